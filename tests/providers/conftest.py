"""Fixtures for the provider tests; the helpers behind them live in `provider_testkit`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime

import pytest
from provider_testkit import ScriptedServer, load_fixture, sim_client

from monitor.core.model import ProviderKind
from monitor.providers.base import ProviderClient
from monitor.simulator import ManualClock, Simulator

SIM_START = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


@pytest.fixture
def fixture_json() -> Callable[[str, str], object]:
    return load_fixture


@pytest.fixture
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """The built-in simulator on a manual clock, serving both APIs on loopback."""
    with Simulator(clock=ManualClock(SIM_START)) as simulator:
        yield simulator


@pytest.fixture
async def together(sim: Simulator) -> AsyncIterator[ProviderClient]:
    client = sim_client(sim, ProviderKind.TOGETHER)
    yield client
    await client.aclose()


@pytest.fixture
async def openai(sim: Simulator) -> AsyncIterator[ProviderClient]:
    client = sim_client(sim, ProviderKind.OPENAI)
    yield client
    await client.aclose()
