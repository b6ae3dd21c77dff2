"""What one poll of a provider means, across its jobs: restart chains and provider health.

Pure, like diff.py. `diff_provider` runs the per-job diff for every polled job, oldest
first, and links restarts: a new job is the continuation of an old one when the old job's
restart line named it, or when it has the old job's model, training file and suffix and
appeared shortly after the old one died of a provider-side error. `poll_succeeded` and
`poll_failed` keep the provider's own conditions (auth failed, provider down).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.core import conditions, diff
from monitor.core.alerts import (
    Alert,
    Cause,
    ConditionState,
    Kind,
    Severity,
)
from monitor.core.durations import human_duration
from monitor.core.memory import Condition, JobState, ProviderHealth
from monitor.core.model import JobEvent, JobSnapshot, LossPoint
from monitor.core.settings import Thresholds

# A replacement job appears soon after the failure; further away it is a new submission.
RESTART_WINDOW = timedelta(hours=6)
RESTART_SLACK = timedelta(minutes=10)


@dataclass(frozen=True, slots=True, kw_only=True)
class PolledJob:
    snapshot: JobSnapshot
    events: Sequence[JobEvent] = ()
    losses: Sequence[LossPoint] = ()


def diff_provider(
    states: Mapping[str, JobState],
    polled: Sequence[PolledJob],
    now: datetime,
    thresholds: Thresholds,
    *,
    baseline: bool = False,
    quiet_before: datetime | None = None,
) -> tuple[list[JobState], list[Alert]]:
    """Diff every polled job; return the states that changed and the alerts raised.

    `baseline` is true only on a provider's very first poll with `first_run = "baseline"`:
    jobs seen for the first time then are recorded without alerts. `quiet_before` does the
    same for jobs created before it (the watch filter just widened: jobs it now takes that
    were there before are seen for the first time, not new).
    """
    known = dict(states)
    changed: dict[str, JobState] = {}
    alerts: list[Alert] = []
    links = {
        s.restart.successor: s.restart.of or s.job_id for s in known.values() if s.restart.successor
    }
    awaiting = {s.job_id: s for s in known.values() if _awaits_restart(s)}  # the few candidates
    for job in sorted(polled, key=lambda j: (j.snapshot.created_at, j.snapshot.id)):
        snapshot = job.snapshot
        previous = known.get(snapshot.id)
        restart_of = None
        if previous is None:
            restart_of = links.get(snapshot.id)
            old = None if restart_of else _likely_predecessor(awaiting.values(), snapshot)
            if old is not None:
                old, raised = diff.link_restart(old, snapshot.id, now)
                known[old.job_id] = changed[old.job_id] = old
                _note_awaiting(awaiting, old)
                alerts += [] if baseline else raised
                restart_of = old.restart.of or old.job_id
        state, raised = diff.diff(
            previous,
            snapshot,
            job.events,
            now,
            thresholds,
            silent=previous is None and first_sight_silent(snapshot, baseline, quiet_before),
            restart_of=restart_of,
            origin=known.get(restart_of) if restart_of and previous is None else None,
            losses=job.losses,
        )
        known[state.job_id] = changed[state.job_id] = state
        _note_awaiting(awaiting, state)
        alerts += raised
        if state.restart.successor:
            links[state.restart.successor] = state.restart.of or state.job_id
    return list(changed.values()), alerts


def first_sight_silent(
    snapshot: JobSnapshot, baseline: bool, quiet_before: datetime | None
) -> bool:
    """Whether a job seen for the first time is recorded without alerts."""
    return baseline or (quiet_before is not None and snapshot.created_at < quiet_before)


def _awaits_restart(state: JobState) -> bool:
    return state.restart.awaiting_since is not None and state.restart.successor is None


def _note_awaiting(awaiting: dict[str, JobState], state: JobState) -> None:
    """Keep the restart candidates current, so a new job is compared with the few jobs
    awaiting a restart rather than with every job of the account."""
    if _awaits_restart(state):
        awaiting[state.job_id] = state
    else:
        awaiting.pop(state.job_id, None)


def _likely_predecessor(states: Iterable[JobState], new: JobSnapshot) -> JobState | None:
    """The job that died of a provider-side error just before `new` appeared, if any.

    Only on a provider that restarts jobs: elsewhere (OpenAI) the same model and file
    resubmitted soon after a failure is a person's new job, not a restart.
    """
    if not new.traits.restarts_jobs or not new.training_file:
        return None
    for old in states:
        waiting = old.restart.awaiting_since
        if (
            waiting is not None
            and old.restart.successor is None
            and old.job_id != new.id
            and (old.model, old.training_file, old.suffix)
            == (new.model, new.training_file, new.suffix)
            and waiting - RESTART_SLACK <= new.created_at <= waiting + RESTART_WINDOW
        ):
            return old
    return None


# -- the provider's own health -----------------------------------------------------------


def poll_succeeded(
    health: ProviderHealth, provider: str, now: datetime, thresholds: Thresholds
) -> tuple[ProviderHealth, list[Alert]]:
    health = replace(
        health, polled_once=True, last_success_at=now, failing_since=None, last_error=None
    )
    checks = [
        conditions.Check(kind=Kind.AUTH_FAILED, active=False),
        conditions.Check(kind=Kind.PROVIDER_DOWN, active=False),
    ]
    return _step_health(health, provider, checks, now, thresholds)


def poll_failed(
    health: ProviderHealth,
    provider: str,
    now: datetime,
    thresholds: Thresholds,
    *,
    auth: bool,
    message: str,
) -> tuple[ProviderHealth, list[Alert]]:
    """A failed poll changes no job; it only moves the provider's own conditions."""
    since = health.failing_since or now
    health = replace(health, failing_since=since, last_error=message)
    down_for = human_duration((now - since).total_seconds())
    checks = [
        conditions.Check(
            kind=Kind.AUTH_FAILED, active=auth, summary=f"the API key was rejected: {message}"
        ),
        conditions.Check(
            kind=Kind.PROVIDER_DOWN,
            active=not auth and now - since >= thresholds.provider_down,
            summary=f"every poll has failed for {down_for}: {message}",
        ),
    ]
    return _step_health(health, provider, checks, now, thresholds)


def _step_health(
    health: ProviderHealth,
    provider: str,
    checks: list[conditions.Check],
    now: datetime,
    thresholds: Thresholds,
) -> tuple[ProviderHealth, list[Alert]]:
    def make(
        check: conditions.Check, cstate: ConditionState, suffix: str, cond: Condition
    ) -> Alert:
        said = conditions.say(
            check, cstate, suffix, cond, now,
            prefix=f"{provider}/-", firing=Severity.FAILURE, cleared="recovered",
        )  # fmt: skip
        return Alert(
            kind=check.kind,
            severity=said.severity,
            provider=provider,
            job_id=None,
            at=now,
            summary=said.summary,
            dedup_key=said.dedup_key,
            cause=Cause.AUTH if check.kind is Kind.AUTH_FAILED else None,
            hint=said.hint,
            state=said.state,
            detail=None if said.resolved else health.last_error,
        )

    own = {str(c.kind) for c in checks}  # other conditions (an incident) are not ours
    mine = {k: v for k, v in health.conditions.items() if k in own}
    opened, alerts = conditions.step(mine, checks, now, thresholds.repeat, make)
    others = {k: v for k, v in health.conditions.items() if k not in own}
    return replace(health, conditions={**others, **opened}), alerts
