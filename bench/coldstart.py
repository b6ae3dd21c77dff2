"""`ftmon run --once` as a user's cron job runs it: a new process each time, timed whole.

100 jobs (half per provider) in the simulator, 50 ms per request, a JSON webhook channel.
Start-up: the same with no jobs and no latency, the cost of a cron run that finds nothing.
Side by side: `run --once` on the 1,000 jobs the SDK loop read, against one SDK cycle.
The first run starts from an empty state file (a baseline poll); each later run follows
`sim.churn(0.05)`. Then the same again with `rich` and `click` hidden from the process:
this development environment has them (the SDKs' dependencies), and when present,
structlog and httpx import them at start-up (~70 ms); an install of ftmon alone has
neither. Also: what importing `monitor.cli` costs, from `python -X importtime`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.latency import CONFIG, Receiver
from monitor.simulator import Simulator


def lean(*hidden: str) -> str:
    """`python -c lean(...) ARGS` runs ftmon as `python -m monitor ARGS` would, with the
    `hidden` modules unimportable."""
    return (
        f"import runpy, sys; sys.modules.update(dict.fromkeys({hidden!r})); "
        "runpy.run_module('monitor', run_name='__main__', alter_sys=True)"
    )


LEAN = lean("rich", "click")  # `run --once` with neither (structlog imports rich when present)


@dataclass
class ColdStart:
    first: float = 0.0
    runs: list[float] = field(default_factory=list)
    alerted: list[bool] = field(default_factory=list)
    lean: list[float] = field(default_factory=list)
    import_seconds: float = 0.0
    startup: list[float] = field(default_factory=list)


@dataclass
class SideBySide:
    """Whole `run --once` processes against one SDK-loop cycle, on the same simulator."""

    jobs: int
    sdk_wall: float
    runs: list[float] = field(default_factory=list)
    alerted: list[bool] = field(default_factory=list)


def import_time() -> float:
    """Seconds to import `monitor.cli` in a fresh interpreter (its cumulative figure)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import monitor.cli"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in done.stderr.splitlines():
        if re.search(r"\|\s*monitor\.cli$", line):
            return int(line.split("|")[1]) / 1e6
    raise RuntimeError("no import time for monitor.cli")


def run_once(config: Path, *, lean: bool = False) -> tuple[float, bool]:
    start = [sys.executable, "-c", LEAN] if lean else [sys.executable, "-m", "monitor"]
    started = time.perf_counter()
    done = subprocess.run(
        [*start, "run", "--once", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1, 2):
        raise RuntimeError(f"run --once exited {done.returncode}: {done.stderr[-500:]}")
    return wall, bool(done.stdout.strip())


def measure(*, jobs: int, latency: float, runs: int, seed: int) -> ColdStart:
    result = ColdStart()
    with Simulator(latency=latency, seed=seed) as sim, _once_config(sim) as config:
        sim.add_synthetic("together", jobs // 2, seed=seed)
        sim.add_synthetic("openai", jobs - jobs // 2, seed=seed)
        result.first, _ = run_once(config)
        result.runs, result.alerted = _later_runs(sim, config, runs)
        result.lean = _later_runs(sim, config, runs, lean=True)[0]
    with Simulator(latency=0.0, seed=seed) as empty, _once_config(empty) as config:
        run_once(config)  # the first run validates the channel set; later ones need not
        result.startup = [run_once(config)[0] for _ in range(runs)]
    for _ in range(3):
        result.import_seconds = min(result.import_seconds or 1e9, import_time())
    return result


def side_by_side(sim: Simulator, sdk_wall: float, *, jobs: int, runs: int) -> SideBySide:
    """`run --once` on the simulator the SDK loop read, each run after `sim.churn(0.05)`."""
    result = SideBySide(jobs=jobs, sdk_wall=sdk_wall)
    with _once_config(sim) as config:
        run_once(config)  # the baseline, as a user's first cron run
        result.runs, result.alerted = _later_runs(sim, config, runs)
    return result


def _later_runs(
    sim: Simulator, config: Path, runs: int, *, lean: bool = False
) -> tuple[list[float], list[bool]]:
    walls, alerted = [], []
    for _ in range(runs):
        sim.churn(0.05)
        wall, raised = run_once(config, lean=lean)
        walls.append(wall)
        alerted.append(raised)
    return walls, alerted


@contextmanager
def _once_config(sim: Simulator) -> Iterator[Path]:
    """A config for `sim` with a private state file and a JSON webhook on loopback."""
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory(prefix="ftmon-cold-") as tmp:
            config, state = Path(tmp) / "ftmon.toml", Path(tmp) / "state.db"
            text = CONFIG.format(
                state=state,
                interval=60,
                url=sim.base_url,
                port=receiver.port,
                listen="",
                openai_extra="",
            )
            config.write_text(text)
            yield config
    finally:
        receiver.close()
