"""`ftmon run --once` as a user's cron job runs it: a new process each time, timed whole.

100 jobs (half per provider) in the simulator, 50 ms per request, a JSON webhook channel.
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
from dataclasses import dataclass, field
from pathlib import Path

from bench.latency import CONFIG, Receiver
from monitor.simulator import Simulator

# `python -c LEAN ARGS` runs ftmon as `python -m monitor ARGS` would, rich and click hidden.
LEAN = (
    "import runpy, sys; sys.modules.update(dict.fromkeys(('rich', 'click'))); "
    "runpy.run_module('monitor', run_name='__main__', alter_sys=True)"
)


@dataclass
class ColdStart:
    first: float = 0.0
    runs: list[float] = field(default_factory=list)
    alerted: list[bool] = field(default_factory=list)
    lean: list[float] = field(default_factory=list)
    import_seconds: float = 0.0


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
    receiver = Receiver()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="ftmon-cold-") as tmp,
            Simulator(latency=latency, seed=seed) as sim,
        ):
            sim.add_synthetic("together", jobs // 2, seed=seed)
            sim.add_synthetic("openai", jobs - jobs // 2, seed=seed)
            config = Path(tmp) / "ftmon.toml"
            state = Path(tmp) / "state.db"
            text = CONFIG.format(state=state, interval=60, url=sim.base_url, port=receiver.port)
            config.write_text(text)
            result.first, _ = run_once(config)
            for _ in range(runs):
                sim.churn(0.05)
                wall, alerted = run_once(config)
                result.runs.append(wall)
                result.alerted.append(alerted)
            for _ in range(runs):
                sim.churn(0.05)
                result.lean.append(run_once(config, lean=True)[0])
        for _ in range(3):
            result.import_seconds = min(result.import_seconds or 1e9, import_time())
    finally:
        receiver.close()
    return result
