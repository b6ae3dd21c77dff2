"""Request counts of real poll cycles against the simulator (counts, never times).

Each test drives the real `PollService` through `wiring.poll_all` over real HTTP and a
real SQLite file, on the simulator's manual clock, and reads what the simulator served.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.app import wiring
from monitor.app.wiring import Runtime
from monitor.core.model import Status
from monitor.core.reads import LOG_IDLE_CAP, LOSS_READ_EVERY
from monitor.providers.pacing import MAX_PAUSE
from monitor.simulator import Simulator
from monitor.storage.sqlite import SqliteStore

# Together's log is read through a retrieve: the same one request brings what its list
# lacks (queue position, steps, epochs; provider-apis.md section 4, item 6).
TG_LIST, TG_EVENTS = "GET /v1/fine-tunes", "GET /v1/fine-tunes/{id}"
TG_METRICS = "GET /v1/fine-tunes/{id}/metrics"
OA_LIST, OA_EVENTS = "GET /v1/fine_tuning/jobs", "GET /v1/fine_tuning/jobs/{id}/events"
TG_TERMINAL = {"completed", "cancelled", "error", "user_error"}
OA_TERMINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture
def sim_seed() -> int:
    return 7  # the script these tests were written against


async def cycle(rt: Runtime, sim: Simulator) -> dict[str, int]:
    """One poll of both providers; the requests it made, by route."""
    sim.reset_stats()
    report = await wiring.poll_all(rt)
    assert all(o.ok for o in report.outcomes), [o.error for o in report.outcomes]
    return dict(sim.stats()["requests"])


def open_jobs(sim: Simulator, provider: str) -> list[str]:
    done = TG_TERMINAL if provider == "together" else OA_TERMINAL
    return [j["id"] for j in sim.jobs() if j["provider"] == provider and j["status"] not in done]


def wire_seconds(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def running(sim: Simulator, provider: str) -> list[str]:
    return [j["id"] for j in sim.jobs() if j["provider"] == provider and j["status"] == "running"]


async def test_a_steady_cycle_reads_one_list_and_only_the_changed_logs(
    sim: Simulator, runtime: Runtime
) -> None:
    """Warm-up reads the open jobs' logs once (a baseline skips finished ones); then a
    cycle costs one Together list, one OpenAI page and one log per changed job: none for
    unchanged running jobs read at this instant, none for finished ones the provider did
    not touch (a late line on a finished Together job, such as a refund, moves its
    `updated_at`: that costs one read)."""
    sim.add_synthetic("together", 150, seed=1)
    sim.add_synthetic("openai", 250, seed=1)
    warm = await cycle(runtime, sim)
    assert warm == {
        TG_LIST: 1,
        TG_EVENTS: len(open_jobs(sim, "together")),
        TG_METRICS: len(running(sim, "together")),  # the loss check's first reading
        OA_LIST: math.ceil(250 / 100),  # first poll: back to the lookback horizon
        OA_EVENTS: len(open_jobs(sim, "openai")),
    }
    assert await cycle(runtime, sim) == {TG_LIST: 1, OA_LIST: 1}

    tg_running, oa_running = running(sim, "together")[:3], running(sim, "openai")[:2]
    for job in tg_running:
        sim.inject_event(job, type="CHECKPOINT_SAVE", message="Checkpoint saved")
    for job in oa_running:
        sim.inject_status(job, "cancelled")
    finished = next(j["id"] for j in sim.jobs() if j["status"] == "completed")
    sim.inject_event(finished, type="MESSAGE", message="late line on a finished job")
    sim.add_scenario("together_success")
    sim.add_scenario("openai_success")
    assert await cycle(runtime, sim) == {
        TG_LIST: 1,
        TG_EVENTS: len(tg_running) + 2,  # the new job's, and the finished one's late line
        OA_LIST: 1,
        OA_EVENTS: len(oa_running) + 1,
    }
    assert await cycle(runtime, sim) == {TG_LIST: 1, OA_LIST: 1}


async def test_together_losses_are_read_on_their_own_cadence(
    sim: Simulator, runtime: Runtime
) -> None:
    """A running Together job's metrics are read LOSS_READ_EVERY apart even while its log
    is quiet (steps move long before the next line); failing metrics hold back only the
    loss check, never the job's status."""
    handle = sim.add_scenario("together_success", at=-800)  # training, between epochs
    assert (await cycle(runtime, sim))[TG_METRICS] == 1
    assert TG_METRICS not in await cycle(runtime, sim)
    sim.advance(LOSS_READ_EVERY)
    counts = await cycle(runtime, sim)
    assert counts[TG_METRICS] == 1 and TG_EVENTS not in counts
    read_to = runtime.store.load_provider("together-sim").states[handle.job_id].loss.checked_step
    sim.advance(LOSS_READ_EVERY)
    sim.faults.fail(500, count=None, path="*/metrics")
    sim.cancel(handle.job_id)
    report = await wiring.poll_all(runtime)
    assert all(o.ok for o in report.outcomes)
    state = runtime.store.load_provider("together-sim").states[handle.job_id]
    assert state.status is Status.CANCELLING and state.loss.checked_step == read_to
    assert sim.stats()["statuses"]["500"] == 1


async def test_an_event_only_change_on_openai_is_read_when_the_job_is_due(
    sim: Simulator, runtime: Runtime
) -> None:
    """OpenAI's job object does not move with new events: such a change waits for the
    job's log cadence (at most LOG_IDLE_CAP), then costs one read."""
    handle = sim.add_scenario("openai_success", at=-600)
    await cycle(runtime, sim)
    sim.inject_event(handle.job_id, type="message", message="a line the job object hides")
    assert await cycle(runtime, sim) == {TG_LIST: 1, OA_LIST: 1}
    sim.faults.clear()
    frozen = sim.now
    sim.advance(LOG_IDLE_CAP)
    assert sim.now - frozen == LOG_IDLE_CAP
    counts = await cycle(runtime, sim)
    assert counts[OA_EVENTS] == 1


async def test_the_openai_list_reaches_only_as_deep_as_the_oldest_open_job(
    sim: Simulator, runtime: Runtime
) -> None:
    """An old unfinished job keeps the list deep until it ends; then one page is enough."""
    sim.add_synthetic("openai", 400, seed=2)
    old = sim.add_scenario("openai_queue_stuck", at=-5 * 86_400)
    await cycle(runtime, sim)
    deep = await cycle(runtime, sim)
    created = {j["id"]: wire_seconds(j["created_at"]) for j in sim.jobs()}
    reaching = sum(1 for t in created.values() if t >= created[old.job_id])
    # pages until one ends before the bound (a page ending on it might hide a tie)
    assert deep[OA_LIST] == reaching // 100 + 1 < math.ceil(len(created) / 100)
    sim.cancel(old.job_id)
    ended = await cycle(runtime, sim)
    assert ended[OA_LIST] == deep[OA_LIST] and ended[OA_EVENTS] == 1
    assert (await cycle(runtime, sim))[OA_LIST] == 1


async def test_a_rate_limited_list_is_retried_after_retry_after(
    sim: Simulator, runtime: Runtime
) -> None:
    """429 with Retry-After: the poll waits and succeeds instead of failing."""
    sim.add_scenario("openai_success", at=-600)
    sim.add_scenario("together_success", at=-600)
    await cycle(runtime, sim)
    sim.faults.rate_limit(retry_after=0.3, path="/v1/fine_tuning/jobs", provider="openai")
    started = time.monotonic()
    counts = await cycle(runtime, sim)
    assert time.monotonic() - started >= 0.3
    assert counts[OA_LIST] == 2  # the 429 and its retry
    assert sim.stats()["statuses"] == {"200": 2, "429": 1}


async def test_a_rate_limited_log_read_is_retried_not_skipped(
    sim: Simulator, runtime: Runtime
) -> None:
    """A 429 on one job's log delays that read; the job is diffed this cycle all the same."""
    handle = sim.add_scenario("together_success", at=-600)
    await cycle(runtime, sim)
    sim.inject_event(handle.job_id, type="CHECKPOINT_SAVE", message="Checkpoint saved")
    job_path = f"*/fine-tunes/{handle.job_id}"  # Together's log comes with the retrieve
    sim.faults.rate_limit(retry_after_ms=200, retry_after=None, path=job_path)
    counts = await cycle(runtime, sim)
    assert counts[TG_EVENTS] == 2
    state = runtime.store.load_provider("together-sim").states[handle.job_id]
    assert "Checkpoint saved" in state.log.recent[-1]


async def test_a_long_retry_after_fails_the_poll_with_it(sim: Simulator, runtime: Runtime) -> None:
    """A provider asking for minutes of quiet is not waited on: the poll fails at once and
    hands the wait (capped at five minutes) to the scheduler; no job changes."""
    sim.add_scenario("openai_success", at=-600)
    await cycle(runtime, sim)
    sim.faults.rate_limit(retry_after=600, provider="openai")
    sim.reset_stats()
    report = await wiring.poll_all(runtime)
    (tg, oa) = report.outcomes
    assert tg.ok and not oa.ok and oa.retry_after == MAX_PAUSE < 600
    assert sim.stats()["requests"][OA_LIST] == 1


async def test_unchanged_jobs_are_not_rewritten_and_finished_ones_shrink(
    sim: Simulator, runtime: Runtime
) -> None:
    """A cycle with no change writes only the providers' health rows; a finished job is
    stored as a tombstone."""
    sim.add_synthetic("together", 60, seed=3)
    sim.add_synthetic("openai", 60, seed=3)
    await cycle(runtime, sim)
    conn = runtime.store.connection
    before = conn.total_changes
    await cycle(runtime, sim)
    assert conn.total_changes - before == 2
    for state in runtime.store.all_jobs():
        if state.status.terminal and not state.restart.awaiting_since:
            assert state.log.recent == () and state.log.seen_keys == ()


async def test_the_state_cache_matches_the_file_across_a_reopen(
    sim: Simulator, runtime: Runtime, tmp_path: Path
) -> None:
    """What the running store serves from memory is exactly what a fresh open reads."""
    sim.add_synthetic("together", 40, seed=4)
    sim.add_synthetic("openai", 40, seed=4)
    await cycle(runtime, sim)
    for _ in range(3):
        sim.churn(0.3)
        sim.advance(timedelta(minutes=2))
        await cycle(runtime, sim)
    reopened = SqliteStore(tmp_path / "state.db")
    try:
        for name in ("together-sim", "openai-sim"):
            assert runtime.store.load_provider(name) == reopened.load_provider(name)
    finally:
        reopened.close()


async def test_a_metrics_404_backs_off_for_that_job_and_is_logged_once(
    sim: Simulator, runtime: Runtime
) -> None:
    """A job whose `/metrics` answers 404 is not asked again every cycle (5 minutes, then
    doubling), its status and log still count, and the log says so once."""
    sim.add_scenario("together_no_metrics", at=-800)  # running, training
    metrics: list[int] = []
    with capture_logs() as logs:
        for _ in range(12):  # 12 minutes
            metrics.append((await cycle(runtime, sim)).get(TG_METRICS, 0))
            sim.advance(60)
    assert sum(metrics) == 2 and metrics[0] == 1  # the first read, one retry after 5 min
    assert [e["event"] for e in logs].count("metrics_unavailable") == 1


async def test_a_failed_read_is_logged_with_the_providers_request_id(
    sim: Simulator, runtime: Runtime
) -> None:
    """What support asks for: the failed answer's `x-request-id` (OpenAI) or `cf-ray`
    (Together) is in the `job_read_failed` line."""
    sim.add_scenario("openai_success", at=-900)
    sim.add_scenario("together_success", at=-900)
    await cycle(runtime, sim)
    sim.advance(600)
    sim.faults.fail(500, path="*/events", provider="openai")
    sim.faults.fail(500, path="*/fine-tunes/ft-*", provider="together")
    with capture_logs() as logs:
        await cycle(runtime, sim)
    failed = {e["provider"]: e for e in logs if e["event"] == "job_read_failed"}
    assert failed["openai-sim"]["request_id"].startswith("req_")
    assert failed["together-sim"]["request_id"].endswith("-SIM")  # a cf-ray
