"""The heavy case (issue 17): a big, busy account, measured as a user runs ftmon.

Workload: `jobs` synthetic jobs (half per provider) of which about `active` are queued or
running, the simulator's clock following the wall clock, 50 ms per request, and
`sim.churn(churn)` every `churn_every` seconds (that share of the unfinished jobs takes
its next scripted step, and a few jobs are submitted). The simulator runs in this
process; ftmon runs as its own process, so only ftmon's work is measured:

- the daemon: `ftmon run` with `poll_interval` for `seconds`. Each provider's
  `poll_completed` log line marks a poll; a cycle is one poll of each provider. CPU
  (user + system, from /proc) and the simulator's request count are read at every poll,
  so a cycle's figures are the differences between two cycle ends. Peak RSS is the
  process's high-water mark (VmHWM) before it is stopped.
- `run --once`: a new process each time, `once_every` seconds apart (the churn keeps
  running); CPU and peak RSS from the child's rusage, requests from the simulator.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import median
from typing import IO

from bench.coldstart import lean
from bench.latency import CONFIG, Receiver
from monitor.simulator import RealClock, Simulator

TICK = os.sysconf("SC_CLK_TCK")
# ftmon as `pip install ftmon` installs it: the development install also has rich (the
# SDKs' dependency), which structlog would import (~0.15 s and ~4 MiB here).
FTMON = (sys.executable, "-c", lean("rich"))
OPEN = frozenset({"pending", "queued", "running", "validating_files", "uploading"})


@dataclass(frozen=True)
class Workload:
    jobs: int = 10_000
    active: float = 0.275
    latency: float = 0.05
    churn: float = 0.05
    churn_every: float = 30.0
    interval: float = 30.0
    seconds: float = 240.0
    once_runs: int = 5
    once_every: float = 30.0
    seed: int = 1

    def quick(self) -> Workload:
        """A smaller run of the same shape, for `--quick`."""
        return replace(self, jobs=2_000, seconds=90.0, once_runs=3, once_every=20.0)

    def describe(self) -> str:
        return (
            f"{self.jobs:,} jobs, ~{self.active:.1%} queued or running, "
            f"{self.latency * 1000:.0f} ms per request, {self.churn:.0%} of the unfinished "
            f"jobs moving every {self.churn_every:.0f} s, the clock following the wall clock"
        )


@dataclass
class Cycle:
    cpu: float
    requests: int
    wall: float
    routes: dict[str, int] = field(default_factory=dict)  # requests by route template


@dataclass
class Process:
    """One measured process: its cycles (the first is the first poll) and its peak RSS."""

    cycles: list[Cycle] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    active_jobs: int = 0

    def steady(self, name: str) -> float:
        return median(getattr(c, name) for c in self.cycles[1:])

    def worst(self, name: str) -> float:
        return max(getattr(c, name) for c in self.cycles[1:])


class Churner(threading.Thread):
    """Moves the account on every `every` seconds until stopped."""

    def __init__(self, sim: Simulator, fraction: float, every: float) -> None:
        super().__init__(daemon=True)
        self.sim, self.fraction, self.every = sim, fraction, every
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every):
            self.sim.churn(self.fraction)


def open_sim(load: Workload) -> Simulator:
    sim = Simulator(clock=RealClock(), latency=load.latency, seed=load.seed).start()
    half = load.jobs // 2
    sim.add_synthetic("together", half, seed=load.seed, active=load.active)
    sim.add_synthetic("openai", load.jobs - half, seed=load.seed, active=load.active)
    return sim


def active_jobs(sim: Simulator) -> int:
    return sum(1 for j in sim.jobs() if j["status"] in OPEN)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_config(tmp: Path, sim: Simulator, receiver: Receiver, interval: float) -> Path:
    config = tmp / "ftmon.toml"
    text = CONFIG.format(
        state=tmp / "state.db",
        interval=interval,
        url=sim.base_url,
        port=receiver.port,
        listen="",
        openai_extra="",
    )
    config.write_text(text)
    return config


def run_daemon(
    load: Workload,
    env: dict[str, str] | None = None,
    on_steady: Callable[[int], None] | None = None,
) -> Process:
    """`ftmon run` on the workload for `load.seconds` after its first poll; `on_steady` is
    called with the daemon's pid when that poll is over (a profiler attaches then)."""
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="ftmon-heavy-") as tmp, open_sim(load) as sim:
        config = write_config(Path(tmp), sim, receiver, load.interval)
        churner = Churner(sim, load.churn, load.churn_every)
        out = Process(active_jobs=active_jobs(sim))
        daemon = subprocess.Popen(
            [*FTMON, "run", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert daemon.stderr is not None
            churner.start()
            out.cycles = _cycles(daemon, daemon.stderr, sim, load.seconds, on_steady)
            out.peak_rss_mib = peak_rss_mib(daemon.pid)
        finally:
            churner.halt.set()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=120)
            receiver.close()
    return out


def _cycles(
    daemon: subprocess.Popen[str],
    lines: IO[str],
    sim: Simulator,
    seconds: float,
    on_steady: Callable[[int], None] | None,
) -> list[Cycle]:
    """Read the daemon's log until `seconds` after its first full cycle; a cycle ends when
    every provider has completed one more poll."""
    polls: dict[str, int] = {}
    marks = [(0.0, 0, time.monotonic(), dict[str, int]())]
    stop_at = float("inf")
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") not in ("poll_completed", "poll_failed"):
            continue
        polls[event["provider"]] = polls.get(event["provider"], 0) + 1
        if len(polls) == 2 and min(polls.values()) == len(marks):
            stats = sim.stats()
            total, routes = stats["total_requests"], stats["requests"]
            marks.append((cpu_seconds(daemon.pid), total, time.monotonic(), routes))
            if len(marks) == 2:
                stop_at = time.monotonic() + seconds
                if on_steady is not None:
                    on_steady(daemon.pid)
        if time.monotonic() >= stop_at:
            break
    return [
        Cycle(cpu=b[0] - a[0], requests=b[1] - a[1], wall=b[2] - a[2], routes=_minus(b[3], a[3]))
        for a, b in itertools.pairwise(marks)
    ]


def _minus(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Requests per route in one cycle, from two running totals."""
    moved = {route: n - before.get(route, 0) for route, n in after.items()}
    return {route: n for route, n in moved.items() if n}


def compile_ftmon() -> None:
    """Write ftmon's bytecode, as an install does: with PYTHONDONTWRITEBYTECODE set (some
    shells and CI images set it) every new process would compile ftmon's modules again,
    which is the environment's cost, not ftmon's."""
    import compileall

    import monitor

    compileall.compile_dir(Path(monitor.__file__).parent, quiet=1)


def run_once(
    load: Workload,
    env: dict[str, str] | None = None,
    wrap: Callable[[int], Sequence[str]] = lambda _run: (),
) -> Process:
    """`ftmon run --once` as a new process, `once_runs + 1` times (the first from empty);
    run N's command is prefixed with `wrap(N)` (a profiler's)."""
    compile_ftmon()
    receiver = Receiver()
    out = Process()
    with tempfile.TemporaryDirectory(prefix="ftmon-heavy-") as tmp, open_sim(load) as sim:
        config = write_config(Path(tmp), sim, receiver, load.interval)
        churner = Churner(sim, load.churn, load.churn_every)
        out.active_jobs = active_jobs(sim)
        churner.start()
        try:
            for run in range(load.once_runs + 1):
                if run:
                    time.sleep(load.once_every)
                before = sim.stats()["total_requests"]
                cycle, rss = _one_process([*wrap(run), *FTMON], config, env)
                cycle.requests = sim.stats()["total_requests"] - before
                out.cycles.append(cycle)
                out.peak_rss_mib = max(out.peak_rss_mib, rss)
        finally:
            churner.halt.set()
            receiver.close()
    return out


def _one_process(
    ftmon: Sequence[str], config: Path, env: dict[str, str] | None
) -> tuple[Cycle, float]:
    started = time.monotonic()
    child = subprocess.Popen(
        [*ftmon, "run", "--once", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert child.stderr is not None
    # The peak after the exec (VmHWM), sampled while it runs: `ru_maxrss` would also count
    # this benchmark's own image (the simulator and its jobs), forked before the exec.
    peaks = [0.0]
    sampler = threading.Thread(target=_sample_peak, args=(child.pid, peaks), daemon=True)
    sampler.start()
    tail = child.stderr.read()[-1500:]
    _, status, usage = os.wait4(child.pid, 0)
    sampler.join(timeout=5)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 1, 2):
        raise RuntimeError(f"run --once exited {child.returncode}: {tail!r}")
    cpu = usage.ru_utime + usage.ru_stime
    return Cycle(cpu=cpu, requests=0, wall=time.monotonic() - started), max(peaks)


def _sample_peak(pid: int, peaks: list[float]) -> None:
    """Keep the child's peak resident memory up to date until it has exited."""
    while True:
        try:
            peaks.append(peak_rss_mib(pid))
            if "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
                return
        except OSError:
            return
        time.sleep(0.02)


def reference_seconds() -> float:
    """CPU seconds of a fixed pure-Python workload (JSON and objects, as a poll's are): the
    speed of the machine the figures were taken on, so two runs on different machines
    can be compared by the ratio of their references."""
    doc = json.dumps([{"id": f"ft-{n}", "n": n, "x": [n / 3] * 5} for n in range(20_000)])
    started = time.process_time()
    for _ in range(3):
        items = json.loads(doc)
        sum(len(Cycle(cpu=i["n"], requests=1, wall=0.0).routes) for i in items)
    return time.process_time() - started


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def summary(run: Process) -> dict[str, float]:
    return {
        "active_jobs": run.active_jobs,
        "peak_rss_mib": round(run.peak_rss_mib, 1),
        "first_cpu": round(run.cycles[0].cpu, 2),
        "first_requests": run.cycles[0].requests,
        "steady_cpu": round(run.steady("cpu"), 3),
        "worst_cpu": round(run.worst("cpu"), 3),
        "steady_requests": run.steady("requests"),
        "steady_cycles": len(run.cycles) - 1,
    }


TARGETS = {"daemon": 1.0, "once": 2.0}  # steady CPU seconds per cycle; peak RSS 100 MiB


def table(load: Workload, daemon: Process, once: Process) -> str:
    """The heavy case's figures and its targets (issue 17), as printed by `python -m bench`."""
    lines = [
        f"The heavy case: {load.describe()}.",
        f"Active jobs at the start: {daemon.active_jobs:,}. Load average now: {load_average()}."
        f" This machine's reference workload: {reference_seconds():.2f} s of CPU.",
        "",
        "| whole process         | peak RSS | first poll CPU | steady CPU / cycle (worst) "
        "| requests / cycle |",
        "|-----------------------|---------:|---------------:|---------------------------:"
        "|-----------------:|",
    ]
    for name, run in (("ftmon run (daemon)", daemon), ("ftmon run --once", once)):
        lines.append(
            f"| {name:<21} | {run.peak_rss_mib:4.0f} MiB | {run.cycles[0].cpu:12.2f} s "
            f"| {run.steady('cpu'):9.2f} s ({run.worst('cpu'):.2f} s)"
            f" | {run.steady('requests'):16,.0f} |"
        )
    lines.append("")
    for name, run in (("daemon", daemon), ("once", once)):
        cpu, limit = run.steady("cpu"), TARGETS[name]
        lines.append(
            f"  [{'met' if cpu <= limit else 'MISSED'}] {name} steady CPU <= {limit} s: {cpu:.2f} s"
        )
    rss = daemon.peak_rss_mib
    lines.append(
        f"  [{'met' if rss <= 100 else 'MISSED'}] daemon peak RSS <= 100 MiB: {rss:.0f} MiB"
    )
    return "\n".join(lines)


def main() -> None:
    """`python -m bench.heavy daemon|once [SECONDS|RUNS] [JOBS]`: one measurement, as JSON."""
    kind = sys.argv[1]
    load = Workload()
    if len(sys.argv) > 2:
        count = int(sys.argv[2])
        load = Workload(seconds=count) if kind == "daemon" else Workload(once_runs=count)
    if len(sys.argv) > 3:
        load = Workload(**{**load.__dict__, "jobs": int(sys.argv[3])})
    before, reference = load_average(), reference_seconds()
    run = run_daemon(load) if kind == "daemon" else run_once(load)
    figures = summary(run) | {"load_before": before, "load_after": load_average()}
    figures["reference_s"] = round(reference, 3)
    figures["cycles"] = [(round(c.cpu, 2), c.requests, round(c.wall, 1)) for c in run.cycles]
    figures["routes"] = [c.routes for c in run.cycles[1:]]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
