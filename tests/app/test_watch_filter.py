"""A provider's watch filter, through real poll cycles against the simulator.

Jobs the filter does not take are not followed at all: no log, metrics or retrieve
request after the list (counted per job by the simulator), no state, no alert. Changing
the filter re-alerts nothing: jobs it stops taking are left as they were, jobs it starts
taking that were already there are seen for the first time (silently, like a first poll).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.app import wiring
from monitor.commands import status
from monitor.core.model import ProviderKind
from monitor.core.routing import JobMatch
from monitor.core.settings import (
    Config,
    FirstRun,
)
from monitor.simulator import Simulator
from monitor.storage.sqlite import SqliteStore
from tests.pollkit import opened, sim_config, sim_provider

SEARCH = JobMatch(suffix=("search-*",))
SUPPORT = JobMatch(metadata=(("team", ("support",)),))


@pytest.fixture
def sim_seed() -> int:
    return 18  # the script these tests were written against


def config(tmp: Path, sim: Simulator, together: JobMatch, openai: JobMatch) -> Config:
    return sim_config(
        tmp,
        sim,
        sim_provider(sim, ProviderKind.TOGETHER, watch=together),
        sim_provider(sim, ProviderKind.OPENAI, watch=openai),
        first_run=FirstRun.ALERT,
    )


def add_teams(sim: Simulator) -> dict[str, str]:
    """Two teams' jobs and two nobody asked about, on both providers."""
    scale = 0.01
    return {
        "search": sim.add_scenario(
            "together_billing_limit", time_scale=scale, fields={"suffix": "search-ranker"}
        ).job_id,
        "nightly": sim.add_scenario(
            "together_success", time_scale=scale, fields={"suffix": "nightly-exp"}
        ).job_id,
        "support": sim.add_scenario(
            "openai_success", time_scale=scale, fields={"metadata": {"team": "support"}}
        ).job_id,
        "research": sim.add_scenario(
            "openai_cancel", time_scale=scale, fields={"metadata": {"team": "research"}}
        ).job_id,
    }


async def run(cfg: Config, sim: Simulator, polls: int, step: float) -> list[tuple[str, str]]:
    """`polls` poll cycles `step` simulated seconds apart; (job, kind) of every alert."""
    raised: list[tuple[str, str]] = []
    async with opened(cfg, lambda: sim.now) as rt:
        for _ in range(polls):
            report = await wiring.poll_all(rt)
            assert all(o.ok for o in report.outcomes), [o.error for o in report.outcomes]
            raised += [(a.job_id or "-", str(a.kind)) for a in report.alerts]
            sim.advance(step)
    return raised


def tracked(path: Path) -> set[str]:
    store = SqliteStore(path)
    try:
        return {s.job_id for s in store.all_jobs()}
    finally:
        store.close()


def in_status(cfg: Config, sim: Simulator) -> set[str]:
    """The jobs `ftmon status` shows under `cfg`."""
    page = status.report(cfg, sim.now, as_json=True)
    return {row["job"] for row in json.loads(page)["jobs"]}


async def test_unwatched_jobs_cost_nothing_after_the_list(sim: Simulator, tmp_path: Path) -> None:
    """Through a whole scenario, the jobs the filters do not take are never named in a
    request (only the lists show them), are not tracked, and raise nothing; the watched
    ones are read and alerted as usual."""
    jobs = add_teams(sim)
    cfg = config(tmp_path, sim, SEARCH, SUPPORT)
    raised = await run(cfg, sim, polls=40, step=30)
    by_job = sim.stats()["requests_by_job"]
    assert by_job.get(jobs["nightly"], 0) == 0
    assert by_job.get(jobs["research"], 0) == 0
    assert by_job[jobs["search"]] > 0 and by_job[jobs["support"]] > 0
    assert tracked(cfg.monitor.state) == {jobs["search"], jobs["support"]}
    assert {job for job, _ in raised} == {jobs["search"], jobs["support"]}
    assert (jobs["search"], "job.cancelled") in raised
    assert (jobs["support"], "job.succeeded") in raised


async def test_changing_the_filter_re_alerts_nothing(sim: Simulator, tmp_path: Path) -> None:
    """Widen Together's filter after the jobs finished, then narrow it to the other team:
    the job it newly takes is recorded silently, the one it drops is left alone (no
    request names it), and nothing alerted before is alerted again."""
    jobs = add_teams(sim)
    first = config(tmp_path, sim, SEARCH, SUPPORT)
    before = await run(first, sim, polls=40, step=30)
    assert (jobs["search"], "job.cancelled") in before

    sim.reset_stats()
    widened = replace(first.providers[0], watch=JobMatch(suffix=("search-*", "nightly-*")))
    second = replace(first, providers=(widened, first.providers[1]))
    assert await run(second, sim, polls=3, step=30) == []
    assert jobs["nightly"] in tracked(first.monitor.state)

    sim.reset_stats()
    narrowed = replace(first.providers[0], watch=JobMatch(suffix=("nightly-*",)))
    third = replace(first, providers=(narrowed, first.providers[1]))
    late = sim.add_scenario("together_success", time_scale=0.01, fields={"suffix": "search-x"})
    assert await run(third, sim, polls=40, step=30) == []
    assert sim.stats()["requests_by_job"].get(jobs["search"], 0) == 0
    assert sim.stats()["requests_by_job"].get(late.job_id, 0) == 0
    assert jobs["search"] not in in_status(third, sim)  # kept in the state, not followed
    assert jobs["search"] in in_status(first, sim)

    # back to the first filter: the search job resumes from its state (nothing again), the
    # late one it now takes finished while unwatched and is recorded silently
    assert await run(first, sim, polls=3, step=30) == []
    assert late.job_id in tracked(first.monitor.state)
