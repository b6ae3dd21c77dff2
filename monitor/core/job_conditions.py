"""A job's time-based conditions: stuck in the queue, no progress, past its estimate
(pure).

Each is a `conditions.Check` that fires, reminds every `repeat` and resolves (see
`conditions`). Time to start counts from submission, as the providers' docs count it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.core import conditions
from monitor.core.alerts import (
    Alert,
    ConditionState,
    FactValue,
    Kind,
    Severity,
)
from monitor.core.durations import human_duration
from monitor.core.job_alert import job_alert
from monitor.core.memory import Condition, Fact, JobState, evolve
from monitor.core.model import JobSnapshot, Phase, Status
from monitor.core.settings import Thresholds


def due(state: JobState, now: datetime, thresholds: Thresholds) -> bool:
    """Whether `step` would fire, remind or resolve anything at `now` (what a poll asks of
    every untouched job: the verdicts alone, without the words an alert would say)."""
    verdicts = {} if state.status.terminal else _verdicts(state, now, thresholds)
    return conditions.due(state.conditions, verdicts, now, thresholds.repeat)


def step(state: JobState, now: datetime, thresholds: Thresholds) -> tuple[JobState, list[Alert]]:
    """Fire, remind and resolve the job's conditions at `now`. Most polls of a job change
    none of them: then there are no words to build (`due`)."""
    if not due(state, now, thresholds):
        return state, []
    checks = [] if state.status.terminal else _job_checks(state, now, thresholds)
    opened, alerts = conditions.step(
        state.conditions, checks, now, thresholds.repeat, alert_maker(state, now)
    )
    return evolve(state, conditions=opened), alerts


def _spans(state: JobState, now: datetime) -> tuple[timedelta, timedelta, timedelta]:
    """How long the job has waited in the queue, gone without progress, and run past its
    estimate (zero without one)."""
    eta = state.progress.eta
    return (
        now - _waiting_since(state),
        now - (state.progress.at or state.created_at),
        now - eta if eta else timedelta(0),
    )


def _verdicts(state: JobState, now: datetime, t: Thresholds) -> dict[Kind, bool]:
    """Which of the three conditions hold at `now`."""
    waited, idle, late = _spans(state, now)
    training = state.status is Status.RUNNING and state.phase is Phase.TRAINING
    return {
        Kind.QUEUE_STALLED: state.status.waiting and waited >= t.queue_stall,
        Kind.PROGRESS_STALLED: state.status is Status.RUNNING and idle >= t.progress_stall,
        Kind.ETA_OVERRUN: training and state.progress.eta is not None and late >= t.eta_grace,
    }


def _job_checks(state: JobState, now: datetime, t: Thresholds) -> list[conditions.Check]:
    """The three checks at `now`, with the summary and facts an alert would say."""
    active = _verdicts(state, now, t)
    waited, idle, late = _spans(state, now)
    eta = state.progress.eta
    queue_facts: dict[str, FactValue] = {"waiting": human_duration(waited.total_seconds())}
    if state.progress.queue_depth:
        queue_facts["queue_depth"] = state.progress.queue_depth
    position = (
        f" (queue position {state.progress.queue_depth})" if state.progress.queue_depth else ""
    )
    return [
        conditions.Check(
            kind=Kind.QUEUE_STALLED,
            active=active[Kind.QUEUE_STALLED],
            summary=f"waiting in the queue for {human_duration(waited.total_seconds())}{position}",
            facts=queue_facts,
        ),
        conditions.Check(
            kind=Kind.PROGRESS_STALLED,
            active=active[Kind.PROGRESS_STALLED],
            summary=f"no new event, step or checkpoint for {human_duration(idle.total_seconds())}",
            facts={"last_progress": (state.progress.at or state.created_at).isoformat()},
        ),
        conditions.Check(
            kind=Kind.ETA_OVERRUN,
            active=active[Kind.ETA_OVERRUN],
            summary=f"running {human_duration(late.total_seconds())} past its estimated finish",
            facts={"estimated_finish": eta.isoformat()} if eta else {},
        ),
    ]


def queue_alert_due(
    state: JobState | None, snapshot: JobSnapshot, now: datetime, thresholds: Thresholds
) -> bool:
    """Whether this poll's queue-stall check fires or reminds: the poll that should first
    fetch the queue position the list lacks, so the alert can name it."""
    if not snapshot.status.waiting:
        return False
    since = snapshot.created_at if state is None else _waiting_since(state)
    if now - since < thresholds.queue_stall:
        return False
    current = None if state is None else state.conditions.get(str(Kind.QUEUE_STALLED))
    return current is None or now - current.notified_at >= thresholds.repeat


def _waiting_since(state: JobState) -> datetime:
    """Time to start counts from submission; after a pause, from re-entering the queue."""
    if Fact.STARTED not in state.facts or not state.status_path:
        return state.created_at
    return state.status_path[-1][1]


def alert_maker(state: JobState, now: datetime) -> conditions.AlertMaker:
    prefix = f"{state.provider}/{state.job_id}"

    def make(
        check: conditions.Check, cstate: ConditionState, suffix: str, cond: Condition
    ) -> Alert:
        said = conditions.say(
            check, cstate, suffix, cond, now,
            prefix=prefix, firing=Severity.WARNING, cleared=_RESOLVED_WORDS[check.kind],
        )  # fmt: skip
        return job_alert(
            state,
            check.kind,
            said.severity,
            "",
            now,
            said.summary,
            hint=said.hint,
            state_=said.state,
            facts=check.facts,
            dedup_key=said.dedup_key,
        )

    return make


_RESOLVED_WORDS = {
    Kind.QUEUE_STALLED: "left the queue",
    Kind.PROGRESS_STALLED: "progress resumed",
    Kind.ETA_OVERRUN: "no longer past its estimate",
}
