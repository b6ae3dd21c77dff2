"""What the poll-cycle tests share: providers on a loopback server, their config, the
simulator on a manual clock, and a runtime opened for a test.

The tests of tests/app and tests/hostile drive the real `PollService` (through `wiring`)
over real HTTP and a real SQLite file; only the server, the providers and the clock differ.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.app import wiring
from monitor.app.wiring import Runtime
from monitor.core.model import ProviderKind
from monitor.core.settings import (
    Config,
    FirstRun,
    MonitorSettings,
    ProviderConfig,
    Secret,
    Thresholds,
)
from monitor.simulator import ManualClock, Simulator

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def provider(
    name: str, kind: ProviderKind, key: str, base_url: str, **fields: Any
) -> ProviderConfig:
    return ProviderConfig(name=name, kind=kind, api_key=Secret(key), base_url=base_url, **fields)


def sim_provider(sim: Simulator, kind: ProviderKind, **fields: Any) -> ProviderConfig:
    """The simulator's provider of `kind`, named `<kind>-sim`, with the key it expects."""
    return provider(f"{kind}-sim", kind, f"sim-{kind}-key", sim.base_url, **fields)


def poll_config(
    tmp: Path,
    providers: Sequence[ProviderConfig],
    *,
    first_run: FirstRun = FirstRun.BASELINE,
    thresholds: Thresholds | None = None,
) -> Config:
    """A config with its state file in `tmp`; otherwise the defaults."""
    return Config(
        file=tmp / "ftmon.toml",
        monitor=MonitorSettings(state=tmp / "state.db", first_run=first_run),
        thresholds=thresholds or Thresholds(),
        providers=tuple(providers),
    )


def sim_config(
    tmp: Path, sim: Simulator, *providers: ProviderConfig, first_run: FirstRun = FirstRun.BASELINE
) -> Config:
    """A config polling the simulator: `providers`, else both of its providers as they are."""
    both = (sim_provider(sim, ProviderKind.TOGETHER), sim_provider(sim, ProviderKind.OPENAI))
    return poll_config(tmp, providers or both, first_run=first_run)


@contextmanager
def manual_sim(seed: int) -> Iterator[Simulator]:
    """The simulator at `START` on a clock that moves only when the test advances it."""
    with Simulator(clock=ManualClock(START), seed=seed) as sim:
        yield sim


@asynccontextmanager
async def opened(cfg: Config, clock: Callable[[], datetime]) -> AsyncIterator[Runtime]:
    """The runtime `ftmon run` would build from `cfg`, closed when the test is done."""
    rt = wiring.open_runtime(cfg, clock)
    try:
        yield rt
    finally:
        await rt.aclose()
