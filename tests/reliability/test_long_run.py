"""Long runs: the daemon over thousands of cycles, and the state file over months.

The daemon (`ftmon run`, a real process) watches the simulator's scale mode (hundreds of
jobs per provider, a tenth of them running) while a new scenario job arrives every three
seconds, polling five times a second through the `FTMON_TEST_POLL_SECONDS` seam.
Sampled from outside all along: resident memory, open file descriptors, the state file's
size, polls done (from /metrics). Flat means: after warm-up, the peak memory of the last
half exceeds that of the first by less than 3 MiB, and the peak descriptor count (pooled
connections come and go) by at most two; the outbox is drained at the end.

Months cannot pass in real time, so retention is shown in-process on the pinned
simulated clock: the real poll service and dispatcher (delivering to a real webhook) and
the store's hourly pruning run cycle after cycle while two new scenario jobs arrive
every step. The file must stop growing once retention has caught up (30 days of
alerts, lookback + a day of finished jobs), and every job's facts must still be alerted
exactly once: nothing forgotten comes back as new.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor import config as config_mod
from monitor.app import wiring
from monitor.delivery import loop
from monitor.delivery.channels import build_channels
from monitor.delivery.dispatch import Dispatcher
from monitor.simulator import SCENARIOS, ManualClock, RealClock, Simulator
from tests.e2e.harness import ftmon_env, write_config
from tests.receivers import HttpReceiver, free_port
from tests.reliability import kit
from tests.reliability.test_provider_faults import OPENAI, SEEN_BY_STATUS_ONLY, TOGETHER


@dataclass
class Sample:
    at: float
    polls: int
    rss_kib: int
    fds: int
    state_bytes: int


def polls_done(port: int) -> int:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return int(sum(s.value for s in families["ftmon_polls"].samples if s.name.endswith("_total")))


def file_bytes(state: Path) -> int:
    return sum(p.stat().st_size for p in state.parent.glob(state.name + "*"))


def _arrivals(sim: Simulator, stop: threading.Event) -> None:
    """A new scenario job every few seconds, each raising its alerts within half a minute:
    steady work for the poll, the diff and delivery, and a job count that grows only
    slowly (the simulator's `churn` adds a share of all jobs each time, so its workload
    keeps growing, and the state with it)."""
    names = [n for n in SCENARIOS if n.startswith(("together_", "openai_"))]
    n = 0
    while not stop.wait(3.0):
        name = names[n % len(names)]
        sim.add_scenario(name, time_scale=30.0 / SCENARIOS[name].duration)
        n += 1


@pytest.mark.parametrize(
    ("seconds", "jobs"),
    [pytest.param(8, 100, id="quick"), pytest.param(720, 300, id="soak", marks=pytest.mark.slow)],
)
def test_the_daemon_stays_flat_over_thousands_of_cycles(
    seconds: int, jobs: int, tmp_path: Path
) -> None:
    """Memory and descriptors flat after warm-up, outbox drained, no crash."""
    receiver = HttpReceiver()
    port = free_port()
    state = tmp_path / "state.db"
    samples: list[Sample] = []
    with Simulator(clock=RealClock(), seed=7) as sim:
        sim.add_synthetic("together", jobs)
        sim.add_synthetic("openai", jobs)
        config = write_config(
            tmp_path,
            sim,
            channels={"hook": f"json://127.0.0.1:{receiver.port}/"},
            poll_interval="1s",
            listen=f"127.0.0.1:{port}",
            extra=kit.NO_INCIDENTS,
        )
        environ = ftmon_env(FTMON_TEST_POLL_SECONDS="0.2", FTMON_LOG_LEVEL="info")
        daemon = kit.start_daemon(config, tmp_path / "ftmon.log", environ)
        stop = threading.Event()
        arrivals = threading.Thread(target=_arrivals, args=(sim, stop), daemon=True)
        try:
            kit.wait_for(lambda: state.exists() and _answers(port), 30, "the daemon")
            arrivals.start()
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                time.sleep(2.0)
                samples.append(
                    Sample(
                        time.monotonic() - started,
                        polls_done(port),
                        daemon.rss_kib(),
                        daemon.fds(),
                        file_bytes(state),
                    )
                )
            stop.set()
            arrivals.join()
            kit.wait_for(
                lambda: kit.delivery_counts(state)[("hook", "pending")] == 0, 60, "a drained outbox"
            )
        finally:
            stop.set()
            code = daemon.stop()
            receiver.close()
    warm = samples[len(samples) // 4 :]  # the first quarter is warm-up
    middle, last = warm[: len(warm) // 2], warm[len(warm) // 2 :]
    rss_growth = max(s.rss_kib for s in last) - max(s.rss_kib for s in middle)
    fd_growth = max(s.fds for s in last) - max(s.fds for s in middle)
    cycles = samples[-1].polls
    kit.record(
        f"long_run-{'soak' if seconds > 60 else 'quick'}",
        seconds=seconds,
        synthetic_jobs_per_provider=jobs,
        jobs_at_end=len(sim.job_ids()),
        polls=cycles,
        alerts=len(kit.outbox(state)),
        delivered=kit.delivery_counts(state)[("hook", "sent")],
        rss_kib_first=samples[0].rss_kib,
        rss_kib_after_warmup=warm[0].rss_kib,
        rss_kib_last=samples[-1].rss_kib,
        rss_kib_growth_second_half=rss_growth,
        fds_growth_second_half=fd_growth,
        fds_min=min(s.fds for s in warm),
        fds_max=max(s.fds for s in warm),
        state_bytes_after_warmup=warm[0].state_bytes,
        state_bytes_last=samples[-1].state_bytes,
    )
    assert code == 0
    assert kit.trouble(daemon.log) == []
    assert cycles >= 5 * seconds
    assert fd_growth <= 2, [s.fds for s in samples]  # pooled connections come and go
    assert rss_growth <= 3 * 1024, [s.rss_kib for s in samples]


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# -- retention over simulated months ----------------------------------------------------------

START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days", "step_hours"),
    [pytest.param(70, 12, id="quick"), pytest.param(150, 3, id="soak", marks=pytest.mark.slow)],
)
async def test_retention_keeps_the_state_file_bounded(
    days: int, step_hours: int, tmp_path: Path
) -> None:
    """The file stops growing once retention has caught up; every fact alerted once."""
    receiver = HttpReceiver()
    # A pause shows only in the job's status (no documented event), so a half-hour pause
    # between two polls hours apart is not seen; that scenario is left out here.
    names = TOGETHER + tuple(n for n in OPENAI if n != SEEN_BY_STATUS_ONLY)
    sizes: dict[int, dict[str, Any]] = {}
    with Simulator(clock=ManualClock(START)) as sim:
        path = write_config(
            tmp_path,
            sim,
            thresholds={"queue_stall": "1h", "progress_stall": "2h", "eta_grace": "2h"},
            channels={"hook": f"json://127.0.0.1:{receiver.port}/"},
            extra=kit.NO_INCIDENTS,
        )
        cfg = config_mod.load(path, ftmon_env())
        runtime = wiring.open_runtime(cfg, lambda: sim.now)
        dispatcher = Dispatcher(
            runtime.store, build_channels(cfg.channels), cfg.routes, lambda: sim.now
        )
        lookbacks = {p.name: p.lookback for p in cfg.providers}
        runs = kit.Scenarios(sim)
        steps = days * 24 // step_hours
        raised: Counter[kit.Fact] = Counter()  # every alert ever enqueued, pruned ones too
        last_id = 0
        try:
            await wiring.poll_all(runtime)  # the baseline, before any job exists
            for step in range(steps):
                for k in range(2):
                    runs.start(
                        names[(2 * step + k) % len(names)], at=60 * k, span=_real(names, k, step)
                    )
                sim.advance(timedelta(hours=step_hours))
                await wiring.poll_all(runtime)
                await loop.drain(dispatcher, 5)
                for alert_id, alert in kit.outbox(tmp_path / "state.db"):
                    if alert_id > last_id:
                        job = runs.owners.get(alert.job_id or "", alert.job_id or alert.provider)
                        raised[
                            (job, str(alert.kind), str(alert.state or alert.cause or "") or None)
                        ] += 1
                        last_id = alert_id
                runtime.store.prune_if_due(sim.now, lookbacks)
                day = (step + 1) * step_hours // 24
                if (step + 1) * step_hours % 24 == 0 and day % 10 == 0:
                    sizes[day] = _size(runtime.store.connection, tmp_path / "state.db")
        finally:
            await runtime.aclose()
            receiver.close()
    facts = raised
    kit.record(
        f"retention-{'soak' if days > 100 else 'quick'}",
        simulated_days=days,
        cycles=steps,
        scenario_jobs=runs.count,
        by_day=sizes,
    )
    # Nothing alerted twice, nothing forgotten came back as new; every scenario old enough
    # to have finished raised all its facts.
    assert facts <= runs.expected, facts - runs.expected
    finished = {
        label for label in runs.owners.values() if int(label.split("#")[1]) < runs.count - 8
    }
    assert {f: n for f, n in facts.items() if f[0] in finished} == {
        f: n for f, n in runs.expected.items() if f[0] in finished
    }
    caught_up = [d for d in sizes if d >= 40]
    assert len(caught_up) >= 2
    peak = max(sizes[d]["file_bytes"] for d in caught_up)
    assert peak <= 1.1 * sizes[caught_up[0]]["file_bytes"], sizes
    assert sizes[max(sizes)]["alerts"] <= 1.2 * sizes[caught_up[0]]["alerts"], sizes


def _real(names: tuple[str, ...], k: int, step: int) -> float:
    """Each scenario at its own pace (its real duration, capped at six hours)."""
    from monitor.simulator import SCENARIOS

    return min(SCENARIOS[names[(2 * step + k) % len(names)]].duration, 6 * 3600.0)


def _size(conn: Any, state: Path) -> dict[str, Any]:
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("jobs", "alerts", "deliveries", "attempts")
    }
    return {"file_bytes": file_bytes(state), **counts}
