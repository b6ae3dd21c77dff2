"""Both clients over real HTTP against the built-in simulator (`monitor.simulator`).

Scenarios drive every status, both Together event spellings, OpenAI paging and
incremental event reads (faults: `test_provider_sim_faults.py`). Request counts come from
the simulator's own accounting, so "no more requests than needed" is measured on the server.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from provider_testkit import sim_client, sim_requests, walk_statuses

from monitor.core.model import JobSnapshot, ProviderKind, Status
from monitor.simulator import ManualClock, Simulator

START = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
LIST_ROUTE = "GET /v1/fine_tuning/jobs"
EVENTS_ROUTE = "GET /v1/fine_tuning/jobs/{id}/events"


# --- every status, reached through scenarios ---------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "path"),
    [
        (
            "together_success",
            ["pending", "queued", "running", "compressing", "uploading", "completed"],
        ),
        (
            "together_billing_limit",
            ["pending", "queued", "running", "cancel_requested", "cancelled"],
        ),
        ("together_wandb_user_error", ["pending", "queued", "running", "user_error"]),
        ("together_restart", ["pending", "queued", "running", "error"]),
        ("openai_success", ["validating_files", "queued", "running", "succeeded"]),
        ("openai_failure", ["validating_files", "failed"]),
        ("openai_cancel", ["validating_files", "queued", "running", "cancelled"]),
        (
            "openai_pause_resume",
            ["validating_files", "queued", "running", "paused", "queued", "running", "succeeded"],
        ),
    ],
)
async def test_scenarios_walk_through_every_status(
    sim: Simulator, scenario: str, path: list[str]
) -> None:
    """Each provider status is seen over HTTP and normalizes to its lifecycle step."""
    handle = sim.add_scenario(scenario)
    kind = ProviderKind(handle.provider)
    client = sim_client(sim, kind)
    try:
        assert await walk_statuses(sim, client, handle) == path
        final = await client.retrieve(handle.job_id)
        listed = {j.id: j for j in await client.list_jobs(created_after=None)}
    finally:
        await client.aclose()
    assert final.status.terminal
    assert listed[handle.job_id].status is final.status  # list and retrieve agree


async def test_an_injected_unknown_status_is_unknown(sim: Simulator, openai: Any) -> None:
    """A status no table knows reads as unknown with its raw value, not as an error."""
    handle = sim.add_scenario("openai_success")
    sim.advance(600)
    sim.inject_status(handle.job_id, "rebalancing")
    job = await openai.retrieve(handle.job_id)
    assert (job.status, job.raw_status) == (Status.UNKNOWN, "rebalancing")


async def test_together_progress_fields_over_http(sim: Simulator, together: Any) -> None:
    """A finished Together job: price from nano-dollars, output name, epochs, checkpoints."""
    handle = sim.add_scenario("together_success")
    sim.advance_to(handle.end + timedelta(seconds=1))
    job = await together.retrieve(handle.job_id)
    assert job.status is Status.SUCCEEDED
    assert job.price_usd is not None and job.price_usd > 0
    assert job.output_name
    assert job.epochs_completed == job.n_epochs
    assert job.events and job.events[-1].type == "job_complete"
    points = await together.checkpoints(handle.job_id)
    assert points and all(c.created_at is not None for c in points)
    rows = await together.metrics(handle.job_id)
    assert rows and all(r.time is not None and r.time.tzinfo is UTC for r in rows)


# --- Together: both event spellings -------------------------------------------------------


async def test_both_together_event_spellings_normalize_alike() -> None:
    """UPPERCASE and spec-lowercase logs of one scenario give the same types and keys."""
    logs = []
    for casing in ("upper", "lower"):
        with Simulator(clock=ManualClock(START), together_event_casing=casing) as sim:
            handle = sim.add_scenario("together_success")
            sim.advance_to(handle.end + timedelta(seconds=1))
            client = sim_client(sim, ProviderKind.TOGETHER)
            try:
                logs.append(await client.events(handle.job_id, after_key=None))
            finally:
                await client.aclose()
    upper, lower = logs
    assert [(e.key, e.type, e.level) for e in upper] == [(e.key, e.type, e.level) for e in lower]
    assert "model_compressing" in {e.type for e in upper}


async def test_together_events_are_the_whole_log_oldest_first(
    sim: Simulator, together: Any
) -> None:
    """No cursor: one request returns the whole log, whatever `after_key` says."""
    handle = sim.add_scenario("together_billing_limit")
    sim.advance_to(handle.end + timedelta(seconds=1))
    log = await together.events(handle.job_id, after_key="anything")
    assert [e.created_at for e in log] == sorted(e.created_at for e in log)
    assert {"billing_limit", "cancel_requested", "job_stopped"} <= {e.type for e in log}
    assert await sim_requests(sim, "GET /v1/fine-tunes/{id}/events") == 1


# --- OpenAI paging: only the pages needed --------------------------------------------------


async def test_openai_list_pages_are_read_only_as_far_as_needed(
    sim: Simulator, openai: Any
) -> None:
    """limit=100: the whole list costs ceil(n/100) requests; a bound costs fewer."""
    sim.add_synthetic(provider="openai", count=250)
    total = len(sim.job_ids("openai"))
    everything = await openai.list_jobs(created_after=None)
    assert len(everything) == total
    assert await sim_requests(sim, LIST_ROUTE) == math.ceil(total / 100) == 3

    bound = everything[149].created_at  # the bound falls on page 2
    newer = await openai.list_jobs(created_after=bound)
    assert newer == [j for j in everything if j.created_at > bound]
    assert await sim_requests(sim, LIST_ROUTE) == 3 + 2

    assert await openai.list_jobs(created_after=sim.now) == []
    assert await sim_requests(sim, LIST_ROUTE) == 3 + 2 + 1


async def test_openai_events_are_read_incrementally(sim: Simulator, openai: Any) -> None:
    """After the first read, only new events come back, from one page, oldest first."""
    handle = sim.add_scenario("openai_success")
    sim.advance_to(handle.at(1200))
    first = await openai.events(handle.job_id, after_key=None)
    pages = await sim_requests(sim, EVENTS_ROUTE)
    assert pages == max(1, math.ceil(len(first) / 100))
    assert [e.created_at for e in first] == sorted(e.created_at for e in first)

    sim.advance(120)
    new = await openai.events(handle.job_id, after_key=first[-1].key)
    assert await sim_requests(sim, EVENTS_ROUTE) == pages + 1  # stopped at the known id
    assert new and not {e.key for e in new} & {e.key for e in first}
    assert new[0].created_at >= first[-1].created_at

    whole = await openai.events(handle.job_id, after_key=None)
    assert [e.key for e in whole] == [e.key for e in first + new]
    before = await sim_requests(sim, EVENTS_ROUTE)
    assert await openai.events(handle.job_id, after_key=whole[-1].key) == []
    assert await sim_requests(sim, EVENTS_ROUTE) == before + 1


async def test_openai_whole_log_spans_pages(sim: Simulator, openai: Any) -> None:
    """A finished job's log of several hundred events is read page by page to the start."""
    handle = sim.add_scenario("openai_success")
    sim.advance_to(handle.end + timedelta(seconds=1))
    log = await openai.events(handle.job_id, after_key=None)
    assert len(log) > 100  # more than one page
    assert await sim_requests(sim, EVENTS_ROUTE) == math.ceil(len(log) / 100)
    assert log[0].type == "message" and log[-1].type == "message"
    assert any(e.type == "metrics" and "train_loss" in e.data for e in log)
    assert len({e.key for e in log}) == len(log)
    points = await openai.checkpoints(handle.job_id)
    assert points == sorted(points, key=lambda c: c.step or 0)


async def test_together_losses_read_only_past_the_last_step(sim: Simulator, together: Any) -> None:
    """`losses` asks /metrics from the next step on and keeps train rows: NaN survives."""
    handle = sim.add_scenario("together_loss_nan")
    sim.advance_to(handle.end + timedelta(seconds=1))
    points = await together.losses(handle.job_id, after_step=None)
    steps = [p.step for p in points]
    assert steps == list(range(5, 201, 5))  # the eval rows at 100 and 200 are left out
    assert all(math.isnan(p.loss) for p in points if p.step > 130)
    assert all(math.isfinite(p.loss) for p in points if p.step <= 130)
    later = await together.losses(handle.job_id, after_step=150)
    assert [p.step for p in later] == list(range(155, 201, 5))
    assert await sim_requests(sim, "GET /v1/fine-tunes/{id}/metrics") == 2


async def test_openai_losses_cost_no_request(sim: Simulator, openai: Any) -> None:
    """OpenAI's losses come as metrics events: `losses` is empty and asks nothing."""
    handle = sim.add_scenario("openai_loss_nan")
    assert await openai.losses(handle.job_id, after_step=None) == []
    assert sim.stats()["total_requests"] == 0


async def test_a_nan_loss_survives_the_wire(sim: Simulator, openai: Any) -> None:
    """JSON NaN in a metrics event reaches the normalized event as a float NaN."""
    handle = sim.add_scenario("openai_loss_nan")
    sim.advance_to(handle.end + timedelta(seconds=1))
    log = await openai.events(handle.job_id, after_key=None)
    losses = [e.data.get("train_loss") for e in log if e.type == "metrics"]
    assert any(isinstance(v, float) and math.isnan(v) for v in losses)


class KeepOpen:
    """Keeps the unfinished jobs: the verdict rests on the snapshot alone."""

    def __call__(self, snapshot: JobSnapshot) -> bool:
        return not snapshot.status.terminal

    def basis(self, job_id: str) -> str:
        return "the status"


@pytest.mark.parametrize("kind", list(ProviderKind))
async def test_a_list_hands_back_only_what_keep_takes(sim: Simulator, kind: ProviderKind) -> None:
    """`keep` drops jobs as they are parsed (several OpenAI pages, one Together body): the
    rest is the whole list's, in the same order, from the same requests."""
    sim.add_synthetic(str(kind), 250, seed=4)
    client = sim_client(sim, kind)
    try:
        whole = await client.list_jobs(created_after=None)
        before = sim.stats()["total_requests"]
        kept = await client.list_jobs(created_after=None, keep=KeepOpen())
        requests = sim.stats()["total_requests"] - before
    finally:
        await client.aclose()
    assert kept == [s for s in whole if not s.status.terminal]
    assert 0 < len(kept) < len(whole)
    assert requests == (1 if kind is ProviderKind.TOGETHER else 3)


@pytest.mark.parametrize("kind", list(ProviderKind))
async def test_a_list_read_again_reads_the_same_from_the_same_requests(
    sim: Simulator, kind: ProviderKind
) -> None:
    """The second read skips the entries the first dropped and left as they were (the
    client's memo): it hands back the same jobs, and OpenAI's pages follow the same
    cursors, from skipped entries too."""
    sim.add_synthetic(str(kind), 250, seed=4)
    client = sim_client(sim, kind)
    try:
        first = await client.list_jobs(created_after=None, keep=KeepOpen())
        before = sim.stats()["requests"]
        again = await client.list_jobs(created_after=None, keep=KeepOpen())
        after = sim.stats()["requests"]
    finally:
        await client.aclose()
    assert again == first and first
    pages = 1 if kind is ProviderKind.TOGETHER else 3
    assert {route: n - before.get(route, 0) for route, n in after.items()} == dict.fromkeys(
        after, pages
    )
