"""A webhook's nudge through the real `PollService`: the simulator on a manual clock, real
HTTP and a real SQLite file. The nudged poll is an ordinary poll with the named job ids
read even where the list does not reach, so it alerts only what the API shows, once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.app.wiring import Runtime
from monitor.core.alerts import Kind
from monitor.core.model import ProviderKind
from monitor.core.settings import (
    FirstRun,
)
from monitor.simulator import SCENARIOS, ScenarioHandle, Simulator
from tests.pollkit import opened, sim_config, sim_provider

NAME = "openai-sim"  # `sim_provider`'s name for it
RETRIEVE = "GET /v1/fine_tuning/jobs/{id}"
OA_LIST, OA_EVENTS = "GET /v1/fine_tuning/jobs", "GET /v1/fine_tuning/jobs/{id}/events"


@pytest.fixture
async def runtime(sim: Simulator, tmp_path: Path) -> AsyncIterator[Runtime]:
    openai = sim_provider(sim, ProviderKind.OPENAI, lookback=timedelta(days=7))
    async with opened(
        sim_config(tmp_path, sim, openai, first_run=FirstRun.ALERT), lambda: sim.now
    ) as rt:
        yield rt


def old_job(sim: Simulator) -> ScenarioHandle:
    """A job created eight days ago (beyond the 7-day lookback) that succeeds in an hour."""
    scenario = SCENARIOS["openai_success"]
    days = timedelta(days=8, hours=1).total_seconds()
    return sim.add_scenario("openai_success", at=-8 * 86400, time_scale=days / scenario.duration)


async def test_a_nudged_job_the_list_does_not_reach_is_fetched_and_tracked(
    sim: Simulator, runtime: Runtime
) -> None:
    """The list stops at the lookback, so polling alone never sees this job end; the
    webhook's job id is retrieved, tracked, and its ending alerted once."""
    job = old_job(sim).job_id
    await runtime.service.poll(NAME)
    sim.advance(timedelta(hours=2))
    plain = await runtime.service.poll(NAME)
    assert job not in {a.job_id for a in plain.enqueued}
    sim.reset_stats()
    nudged = await runtime.service.poll(NAME, frozenset({job}))
    assert sim.stats()["requests"].get(RETRIEVE) == 1
    kinds = [a.kind for a in nudged.enqueued if a.job_id == job]
    assert kinds.count(Kind.SUCCEEDED) == 1  # first sight: its start is told too
    again = await runtime.service.poll(NAME, frozenset({job}))
    assert not [a for a in again.enqueued if a.job_id == job]
    assert runtime.store.load_jobs(NAME, [job])[job].status.terminal


async def test_a_nudge_for_a_job_that_does_not_exist_changes_nothing(
    sim: Simulator, runtime: Runtime
) -> None:
    """A verified webhook naming a job the API does not know: one 404, no state, no alert."""
    await runtime.service.poll(NAME)
    sim.reset_stats()
    outcome = await runtime.service.poll(NAME, frozenset({"ftjob-nowhere"}))
    assert outcome.ok
    assert sim.stats()["statuses"].get("404") == 1
    assert outcome.enqueued == []
    view = runtime.store.load_provider(NAME)
    assert "ftjob-nowhere" not in view.states and "ftjob-nowhere" not in view.settled


async def test_a_narrow_poll_reads_only_the_nudged_job(sim: Simulator, runtime: Runtime) -> None:
    """Between full polls, a nudge reads the named job (retrieve and its log), no list; the
    ending is alerted once, and the next full poll raises nothing more about it."""
    job = sim.add_scenario("openai_failure", time_scale=1.0).job_id
    others = [sim.add_scenario("openai_success", time_scale=1.0).job_id for _ in range(3)]
    await runtime.service.poll(NAME)
    sim.advance(timedelta(minutes=1))
    sim.reset_stats()
    nudged = await runtime.service.poll(NAME, frozenset({job}), narrow=True)
    requests = sim.stats()["requests"]
    assert requests.get(OA_LIST) is None
    assert requests.get(RETRIEVE) == 1
    assert requests.get(OA_EVENTS) == 1
    assert [a.kind for a in nudged.enqueued] == [Kind.FAILED]
    full = await runtime.service.poll(NAME)
    assert not [a for a in full.enqueued if a.job_id == job]
    assert {a.job_id for a in full.enqueued} <= set(others)


async def test_the_first_poll_is_full_even_when_nudged(sim: Simulator, runtime: Runtime) -> None:
    """Before a provider's first poll there is nothing to narrow from: the list is read."""
    job = sim.add_scenario("openai_failure", time_scale=1.0).job_id
    sim.advance(timedelta(minutes=1))
    sim.reset_stats()
    await runtime.service.poll(NAME, frozenset({job}), narrow=True)
    assert sim.stats()["requests"].get(OA_LIST) == 1
