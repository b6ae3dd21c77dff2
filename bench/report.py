"""The printed tables, the targets they are read against, and the machine they ran on."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path
from statistics import median

from bench.coldstart import ColdStart, SideBySide
from bench.cycles import Cycle, Run
from bench.latency import Latency

MB = 1_000_000


def machine() -> str:
    cpu = "unknown CPU"
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.platform()}; "
        f"Python {platform.python_version()}"
    )


def ratio(a: float, b: float) -> str:
    if b == 0:
        return "-"
    r = a / b
    return f"{r:.2f}" if r >= 0.1 else f"1/{b / a:,.0f}" if a else "0"


def cycles_table(ftmon: Run, sdk: Run, *, jobs: int, latency: float, churn: float) -> str:
    rows = [
        ("requests per cycle", ftmon.avg("requests"), sdk.avg("requests"), "{:,.1f}"),
        ("MB per cycle", ftmon.avg("bytes") / MB, sdk.avg("bytes") / MB, "{:,.2f}"),
        ("wall s per cycle", ftmon.avg("wall"), sdk.avg("wall"), "{:,.3f}"),
        ("CPU s per cycle", ftmon.avg("cpu"), sdk.avg("cpu"), "{:,.3f}"),
        ("peak RSS MiB", ftmon.maxrss_mib, sdk.maxrss_mib, "{:,.0f}"),
    ]
    out = [
        f"Poll cycles: {jobs:,} jobs (half per provider), {latency * 1000:.0f} ms per request, "
        f"churn {churn:.0%} per cycle, simulator clock still; {len(ftmon.steady)} steady "
        f"cycles after a warm-up (SDK loop: {len(sdk.steady)} cycle)",
        "",
        f"  {'':<22}{'ftmon':>12}{'SDK loop':>12}{'ftmon/SDK':>12}",
    ]
    for name, a, b, fmt in rows:
        out.append(f"  {name:<22}{fmt.format(a):>12}{fmt.format(b):>12}{ratio(a, b):>12}")
    out += ["", *floor_lines(ftmon), warmup_line(ftmon)]
    return "\n".join(out)


def floor_lines(run: Run) -> list[str]:
    changed = run.avg_changed()
    read = mean_of(run, lambda c: len(c.logs & set(c.floor.changed)) if c.floor else 0)
    deferred = mean_of(run, lambda c: c.deferred)
    extra = mean_of(run, lambda c: c.unchanged_reads)
    floor = run.avg_floor()
    metrics = mean_of(run, lambda c: c.routes.get(METRICS_ROUTE, 0))
    retrieves = mean_of(run, lambda c: c.routes.get(RETRIEVE_ROUTE, 0))
    events = mean_of(run, lambda c: c.routes.get(EVENTS_ROUTE, 0))
    requests = run.avg("requests")
    return [
        f"  request floor {floor:,.1f} per cycle; ftmon/floor {requests / floor:.2f}",
        f"  changed jobs {changed:,.1f} per cycle: log read the same cycle {read:,.1f}, left for "
        f"the job's due time {deferred:,.1f}; logs read of unchanged jobs {extra:,.1f}",
        f"  Together metrics read for the loss check {metrics:,.1f} per cycle (neither the floor "
        f"nor the SDK loop checks losses); without them ftmon/floor "
        f"{(requests - metrics) / floor:.2f}",
        f"  Together retrieves {retrieves:,.1f} per cycle (each is also that job's log read: "
        f"queue position and progress the list lacks ride on it), Together /events reads "
        f"{events:,.1f}",
    ]


METRICS_ROUTE = "GET /v1/fine-tunes/{id}/metrics"
RETRIEVE_ROUTE = "GET /v1/fine-tunes/{id}"
EVENTS_ROUTE = "GET /v1/fine-tunes/{id}/events"


def warmup_line(run: Run) -> str:
    w = run.warmup
    assert w is not None
    return (
        f"  warm-up (first poll): {w.requests:,} requests, {w.bytes / MB:,.2f} MB, "
        f"{w.wall:,.2f} s wall, {w.cpu:,.2f} s CPU"
    )


def mean_of(run: Run, value: Callable[[Cycle], float]) -> float:
    values = [float(value(c)) for c in run.steady]
    return sum(values) / len(values) if values else 0.0


def progress_table(run: Run, *, advance: float) -> str:
    return "\n".join(
        [
            f"Same jobs, and {advance:.0f} s of simulated time per cycle as well (jobs progress "
            "on their own, as between real polls):",
            f"  ftmon {run.avg('requests'):,.1f} requests, {run.avg('bytes') / MB:,.2f} MB, "
            f"{run.avg('wall'):,.3f} s wall, {run.avg('cpu'):,.3f} s CPU per cycle",
            *floor_lines(run),
        ]
    )


def scale_table(run: Run, *, jobs: int, latency: float) -> str:
    return "\n".join(
        [
            f"Scale: {jobs:,} jobs in one ftmon process, {latency * 1000:.0f} ms per request, "
            "churn 5 % per cycle",
            f"  steady: {run.avg('requests'):,.1f} requests, {run.avg('bytes') / MB:,.2f} MB, "
            f"{run.avg('wall'):,.3f} s wall, {run.avg('cpu'):,.3f} s CPU per cycle "
            f"(max {max(c.cpu for c in run.steady):,.3f} s)",
            warmup_line(run),
            f"  peak RSS {run.maxrss_mib:,.0f} MiB (the whole process, warm-up included)",
        ]
    )


def latency_table(result: Latency) -> str:
    return (
        f"Detection latency, real daemon at a {result.interval:.0f} s poll interval: "
        f"p50 {result.percentile(50):.2f} s, p99 {result.percentile(99):.2f} s, "
        f"max {max(result.samples, default=float('nan')):.2f} s over {len(result.samples)} "
        f"changes ({result.missing} not delivered)"
    )


def webhooks_table(pushed: Latency, polled: Latency) -> str:
    """OpenAI terminal changes at one poll interval, with the webhooks and without."""
    lines = [
        f"OpenAI endings at a {pushed.interval:.0f} s poll interval (a cancel in the simulator "
        "to the channel's message):",
        f"  {'':<18}{'p50 s':>8}{'p99 s':>8}{'max s':>8}{'changes':>9}{'lost':>6}",
    ]
    for name, run in (("with webhooks", pushed), ("polling only", polled)):
        worst = max(run.samples, default=float("nan"))
        lines.append(
            f"  {name:<18}{run.percentile(50):>8.2f}{run.percentile(99):>8.2f}{worst:>8.2f}"
            f"{run.changes:>9}{run.missing:>6}"
        )
    return "\n".join(lines)


def coldstart_table(result: ColdStart, *, jobs: int) -> str:
    runs = result.runs
    with_alerts = [w for w, a in zip(runs, result.alerted, strict=True) if a]
    quiet = [w for w, a in zip(runs, result.alerted, strict=True) if not a]
    parts = [
        f"Cold start, `ftmon run --once` on {jobs} jobs as a new process: first run "
        f"(empty state) {result.first:.2f} s; later runs median {median(runs):.2f} s, "
        f"max {max(runs):.2f} s over {len(runs)}",
    ]
    if with_alerts and quiet:
        parts.append(
            f"  runs that delivered alerts (apprise loaded) median {median(with_alerts):.2f} s, "
            f"runs with nothing to send median {median(quiet):.2f} s"
        )
    if result.lean:
        parts.append(
            f"  without rich and click (an install of ftmon alone): median "
            f"{median(result.lean):.2f} s, max {max(result.lean):.2f} s"
        )
    parts.append(f"  importing monitor.cli: {result.import_seconds:.3f} s")
    if result.startup:
        parts.append(
            f"  start-up (no jobs, no latency, nothing to send): median "
            f"{median(result.startup):.2f} s, max {max(result.startup):.2f} s"
        )
    return "\n".join(parts)


def side_by_side_table(both: SideBySide) -> str:
    return (
        f"Side by side, {both.jobs:,} jobs: one SDK-loop cycle {both.sdk_wall:.1f} s; a whole "
        f"`run --once` process median {median(both.runs):.2f} s, max {max(both.runs):.2f} s "
        f"over {len(both.runs)} ({sum(both.alerted)} delivered alerts); "
        f"{both.sdk_wall / median(both.runs):,.0f} x faster"
    )


def targets(
    ftmon: Run | None,
    sdk: Run | None,
    scale: Run | None,
    lat: Latency | None,
    cold: ColdStart | None,
    both: SideBySide | None = None,
    pushed: tuple[Latency, Latency] | None = None,
) -> str:
    lines = ["Targets:"]

    def check(ok: bool, text: str) -> None:
        lines.append(f"  [{'met' if ok else 'MISSED'}] {text}")

    if ftmon is not None and sdk is not None:
        r = ftmon.avg("requests") / ftmon.avg_floor()
        check(r <= 1.2, f"requests per cycle <= 1.2 x floor: {r:.2f}")
        w = sdk.avg("wall") / ftmon.avg("wall")
        check(w >= 100, f"wall per cycle >= 100 x shorter than the SDK loop: {w:,.0f} x")
    if scale is not None:
        check(scale.maxrss_mib <= 100, f"scale peak RSS <= 100 MiB: {scale.maxrss_mib:.0f} MiB")
        cpu = max(c.cpu for c in scale.steady)
        check(cpu <= 2.0, f"scale CPU <= 2 s per cycle: {cpu:.2f} s (worst steady cycle)")
    if lat is not None:
        p99 = lat.percentile(99)
        check(p99 <= lat.interval + 1, f"detection p99 <= interval + 1 s: {p99:.2f} s")
    if pushed is not None:
        p99 = pushed[0].percentile(99)
        check(p99 < 1.0 and not pushed[0].missing, f"webhook-driven p99 < 1 s: {p99:.2f} s")
    if cold is not None:
        worst = max([cold.first, *cold.runs])
        check(worst <= 1.0, f"run --once cold <= 1 s: worst of all runs {worst:.2f} s")
        if cold.startup:
            up = median(cold.startup)
            check(up <= 0.4, f"run --once start-up <= 0.4 s: median {up:.2f} s")
    if both is not None:
        ratio = both.sdk_wall / median(both.runs)
        check(
            ratio >= 100,
            f"1,000 jobs: run --once >= 100 x faster than an SDK cycle: {ratio:,.0f} x",
        )
    return "\n".join(lines)
