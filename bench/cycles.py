"""Poll cycles against one simulator: ftmon's and the SDK loop's, each in its own process.

The simulator runs here (a thread of this process), so its own work never counts against
a client's CPU or memory. Per cycle, this side resets the simulator's stats, orders the
worker to poll, and reads back what the simulator served (requests, bytes); the worker
reports its wall and CPU seconds and which job logs it read. Between steady cycles the
simulator churns (and, optionally, its clock moves), and the oracle notes what changed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from bench.oracle import Floor, floor, look
from monitor.simulator import Simulator


@dataclass
class Cycle:
    requests: int
    bytes: int
    wall: float
    cpu: float
    logs: set[str]
    routes: dict[str, int]
    floor: Floor | None = None

    @property
    def deferred(self) -> int:
        """Changed jobs whose log this cycle did not read."""
        return 0 if self.floor is None else len(set(self.floor.changed) - self.logs)

    @property
    def unchanged_reads(self) -> int:
        return 0 if self.floor is None else len(self.logs - set(self.floor.changed))

    def unchanged_by_provider(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.floor is not None:
            for job in self.logs - set(self.floor.changed):
                kind = "openai" if job.startswith("ftjob") else "together"
                out[kind] = out.get(kind, 0) + 1
        return out


@dataclass
class Run:
    client: str
    warmup: Cycle | None
    steady: list[Cycle] = field(default_factory=list)
    maxrss_mib: float = 0.0

    def avg(self, name: str) -> float:
        return mean(float(getattr(c, name)) for c in self.steady)

    def avg_floor(self) -> float:
        return mean(c.floor.requests for c in self.steady if c.floor is not None)

    def avg_changed(self) -> float:
        return mean(len(c.floor.changed) for c in self.steady if c.floor is not None)


class Worker:
    """A `bench.workers` child process."""

    def __init__(self, kind: str, sim: Simulator, state: Path | None = None) -> None:
        command = [sys.executable, "-m", "bench.workers", kind, "--base-url", sim.base_url]
        if state is not None:
            command += ["--state", str(state)]
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def ask(self, order: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(order) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.proc.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> float:
        rss = float(self.ask({"op": "exit"})["maxrss_mib"])
        self.proc.wait(timeout=30)
        return rss


def measure(worker: Worker, sim: Simulator, fl: Floor | None = None) -> Cycle:
    sim.reset_stats()
    answer = worker.ask({"op": "cycle", "now": sim.now.isoformat()})
    if not answer["ok"]:
        raise RuntimeError("a poll failed during the benchmark")
    stats = sim.stats()
    return Cycle(
        requests=stats["total_requests"],
        bytes=stats["bytes_sent"],
        wall=answer["wall"],
        cpu=answer["cpu"],
        logs=set(answer["logs"]),
        routes=stats["requests"],
        floor=fl,
    )


def run_ftmon(sim: Simulator, *, cycles: int, churn: float, advance: float) -> Run:
    """A warm-up cycle (the first poll reads everything once), then `cycles` steady ones,
    each after `sim.churn(churn)` and `advance` seconds of simulated time."""
    with tempfile.TemporaryDirectory(prefix="ftmon-bench-") as tmp:
        worker = Worker("ftmon", sim, Path(tmp) / "state.db")
        try:
            seen = look(sim)
            run = Run(client="ftmon", warmup=measure(worker, sim))
            for _ in range(cycles):
                sim.churn(churn)
                if advance:
                    sim.advance(advance)
                after = look(sim)
                run.steady.append(measure(worker, sim, floor(sim, seen, after)))
                seen = after
        finally:
            run.maxrss_mib = worker.close()
    return run


def run_sdk(sim: Simulator, *, cycles: int) -> Run:
    """The plain SDK loop; every cycle reads everything, so there is no warm-up."""
    worker = Worker("sdk", sim)
    run = Run(client="sdk", warmup=None)
    try:
        for _ in range(cycles):
            run.steady.append(measure(worker, sim))
    finally:
        run.maxrss_mib = worker.close()
    return run


def scale_sim(jobs: int, latency: float, seed: int) -> Simulator:
    """`jobs` synthetic jobs, half per provider, on a manual clock, started."""
    sim = Simulator(latency=latency, seed=seed).start()
    sim.add_synthetic("together", jobs // 2, seed=seed)
    sim.add_synthetic("openai", jobs - jobs // 2, seed=seed)
    return sim
