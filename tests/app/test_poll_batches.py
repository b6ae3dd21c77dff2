"""A poll in bounded batches is the same poll: same states, same alerts, same requests.

Two real simulators with the same seed, the same script and the same manual clock; one
ftmon reads each poll in a single batch, the other three jobs' reads at a time (many
commits per poll). Whatever the cut, both end with identical stored states and outboxes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.app import wiring
from monitor.app.poll import PollService
from monitor.app.wiring import Runtime
from monitor.core import plan
from monitor.core.settings import FirstRun
from monitor.simulator import Simulator
from tests.pollkit import manual_sim, sim_config


def batches_of(items: str, size: int) -> list[str]:
    """Capital letters read; `plan.batches` as strings, for the table below."""
    return ["".join(b) for b in plan.batches(list(items), str.isupper, size)]


def test_batches_cut_by_reads_only() -> None:
    assert batches_of("", 2) == [""]
    assert batches_of("abc", 2) == ["abc"]
    assert batches_of("AbBcCd", 2) == ["AbBc", "Cd"]
    assert batches_of("ABCDE", 2) == ["AB", "CD", "E"]
    assert batches_of("aAaAaAa", 1) == ["aAa", "Aa", "Aa"]


def open_runtime(sim: Simulator, tmp: Path, read_batch: int) -> Runtime:
    cfg = sim_config(tmp, sim, first_run=FirstRun.ALERT)
    rt = wiring.open_runtime(cfg, lambda: sim.now)
    rt.service = PollService(cfg, rt.store, rt.clients, rt.clock, read_batch=read_batch)
    return rt


async def test_a_poll_cut_into_batches_stores_and_raises_the_same(tmp_path: Path) -> None:
    runs = []
    for read_batch in (10_000, 3):
        tmp = tmp_path / str(read_batch)
        tmp.mkdir()
        with manual_sim(seed=11) as sim:
            sim.add_synthetic("together", 40, seed=5, active=0.5)
            sim.add_synthetic("openai", 40, seed=5, active=0.5)
            rt = open_runtime(sim, tmp, read_batch)
            requests = []
            try:
                for _ in range(4):
                    sim.reset_stats()
                    report = await wiring.poll_all(rt)
                    assert all(o.ok for o in report.outcomes)
                    requests.append(sim.stats()["total_requests"])
                    sim.churn(0.3)
                    sim.advance(timedelta(minutes=3))
                states = rt.store.all_jobs()
                alerts = sorted(a.dedup_key for a in rt.store.outbox_alerts())
                views = {n: rt.store.load_provider(n) for n in ("together-sim", "openai-sim")}
            finally:
                await rt.aclose()
        runs.append((states, alerts, requests, views))
    (whole, cut) = runs
    assert len(whole[1]) > 40  # the first poll alerted on every job it saw
    assert cut == whole
