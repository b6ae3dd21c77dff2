"""Real poll cycles that skip the diffs of untouched open jobs (`core.quiet`) and still
tell every time-based condition on time: the queue-stall alert when it falls due, its
reminder a `repeat` later, and nothing in between.

OpenAI only: its list carries what a person needs, so a waiting OpenAI job has nothing to
read and only the skip decides whether it is diffed (a waiting Together job is retrieved
on the poll its queue alert is due, for its queue position).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.app import wiring
from monitor.app.wiring import Runtime
from monitor.core.alerts import Alert, ConditionState, Kind
from monitor.core.model import ProviderKind
from monitor.core.settings import Thresholds
from monitor.simulator import Simulator
from tests.pollkit import opened, sim_config, sim_provider

TH = Thresholds()
WAITING = {"validating_files", "queued"}


@pytest.fixture
async def openai_only(sim: Simulator, tmp_path: Path) -> AsyncIterator[Runtime]:
    config = sim_config(tmp_path, sim, sim_provider(sim, ProviderKind.OPENAI))
    async with opened(config, lambda: sim.now) as rt:
        yield rt


async def cycle(rt: Runtime) -> tuple[list[Alert], dict[str, int]]:
    """One poll: its alerts, and its `poll_completed` counts."""
    with capture_logs() as logs:
        report = await wiring.poll_all(rt)
    assert all(o.ok for o in report.outcomes)
    (done,) = [e for e in logs if e["event"] == "poll_completed"]
    return [a for o in report.outcomes for a in o.enqueued], done


def queue_alerts(alerts: list[Alert]) -> list[tuple[str, ConditionState | None]]:
    return sorted((a.job_id, a.state) for a in alerts if a.kind is Kind.QUEUE_STALLED)


async def test_untouched_jobs_are_not_diffed_but_their_stalls_and_reminders_come(
    sim: Simulator, openai_only: Runtime
) -> None:
    """Jobs queued for long enough fire at once (the baseline tells conditions); the others
    fire when their wait reaches `queue_stall`; each reminds `repeat` after it fired; and
    every poll in between skips them."""
    sim.add_synthetic("openai", 120, seed=2, active=0.5)
    waiting = sorted(
        j["id"] for j in sim.jobs() if j["provider"] == "openai" and j["status"] in WAITING
    )
    alerts, _ = await cycle(openai_only)  # the baseline, at t0
    early = {job for job, state in queue_alerts(alerts) if state is ConditionState.FIRING}

    alerts, done = await cycle(openai_only)  # t0 again: nothing new, nothing due
    assert alerts == [] and done["changed"] == 0
    assert done["quiet"] >= len(waiting)

    sim.advance(TH.queue_stall)  # t0 + 1h: every other queued job has waited long enough
    alerts, _ = await cycle(openai_only)
    late = [job for job in waiting if job not in early]
    assert late and queue_alerts(alerts) == [(job, ConditionState.FIRING) for job in late]

    sim.advance(TH.repeat - 2 * TH.queue_stall)  # t0 + 3h: no reminder due yet
    alerts, done = await cycle(openai_only)
    assert queue_alerts(alerts) == []
    assert done["quiet"] >= len(waiting)  # the stalled jobs themselves were skipped

    sim.advance(TH.queue_stall)  # t0 + 4h: the early ones remind
    alerts, _ = await cycle(openai_only)
    assert queue_alerts(alerts) == [(job, ConditionState.REMINDER) for job in sorted(early)]

    sim.advance(TH.queue_stall)  # t0 + 5h: and the late ones
    alerts, _ = await cycle(openai_only)
    assert queue_alerts(alerts) == [(job, ConditionState.REMINDER) for job in late]
