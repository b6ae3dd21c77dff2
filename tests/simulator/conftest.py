"""Fixtures for the simulator tests: a started simulator on a manual clock, and clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.simulator import ManualClock, Simulator

START = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent.parent / "fixtures"
TOGETHER_AUTH = {"Authorization": "Bearer sim-together-key"}
OPENAI_AUTH = {"Authorization": "Bearer sim-openai-key"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def client_for(sim: Simulator, headers: dict[str, str] | None = None) -> httpx.Client:
    """A plain-HTTP client (no TLS context to build: loopback only)."""
    return httpx.Client(base_url=sim.base_url, headers=headers, timeout=10, verify=False)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(clock=ManualClock(START)) as simulator:
        yield simulator


@pytest.fixture
def tg(sim: Simulator) -> Iterator[httpx.Client]:
    """An httpx client with the Together key."""
    with client_for(sim, TOGETHER_AUTH) as client:
        yield client


@pytest.fixture
def oa(sim: Simulator) -> Iterator[httpx.Client]:
    """An httpx client with the OpenAI key."""
    with client_for(sim, OPENAI_AUTH) as client:
        yield client
