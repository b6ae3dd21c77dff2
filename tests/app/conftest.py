"""Fixtures of the poll-cycle tests: the simulator on a manual clock (seeded by `sim_seed`,
which a module overrides to keep its own script) and a runtime polling both its providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from monitor.app.wiring import Runtime
from monitor.simulator import Simulator
from tests.pollkit import manual_sim, opened, sim_config


@pytest.fixture
def sim_seed() -> int:
    return 3


@pytest.fixture
def sim(sim_seed: int) -> Iterator[Simulator]:
    with manual_sim(seed=sim_seed) as simulator:
        yield simulator


@pytest.fixture
async def runtime(sim: Simulator, tmp_path: Path) -> AsyncIterator[Runtime]:
    async with opened(sim_config(tmp_path, sim), lambda: sim.now) as rt:
        yield rt
