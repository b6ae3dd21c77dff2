"""A clock that went backwards (an NTP step, a restored VM snapshot), undone (pure).

ftmon keeps times it set itself: when a provider started failing, when a condition began
and was last announced, when a job's log was last read or it last made progress. Read back
by a clock that has since stepped back, each lies in the future, and every comparison with
`now` then waits out the jump: `provider_down` stays quiet, a stall never fires, a reminder
never comes. `health_at` and `state_at` move every such time back to `now` (condition
clocks restart from now) and return the record unchanged when nothing was in the future,
so the shell can tell, and warn. Times a provider reported (created_at, started_at, the
status path) are its own and are never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from monitor.core.memory import Condition, JobState, ProviderHealth

SLACK = timedelta(seconds=5)  # closer than this to `now` is a rounding, not a jump


def ahead(at: datetime | None, now: datetime) -> bool:
    """Whether `at` lies in the future beyond what a clock's jitter explains."""
    return at is not None and at > now + SLACK


def _back(at: datetime | None, now: datetime) -> datetime | None:
    return now if ahead(at, now) else at


def _conditions(conditions: Mapping[str, Condition], now: datetime) -> Mapping[str, Condition]:
    moved = {
        kind: replace(c, since=min(c.since, now), notified_at=min(c.notified_at, now))
        for kind, c in conditions.items()
        if ahead(c.since, now) or ahead(c.notified_at, now)
    }
    return {**conditions, **moved} if moved else conditions


def health_at(health: ProviderHealth, now: datetime) -> ProviderHealth:
    """`health` with no time of ftmon's own after `now` (the same object if none was)."""
    conditions = _conditions(health.conditions, now)
    if conditions is health.conditions and not (
        ahead(health.failing_since, now) or ahead(health.last_success_at, now)
    ):
        return health
    return replace(
        health,
        failing_since=_back(health.failing_since, now),
        last_success_at=_back(health.last_success_at, now),
        conditions=conditions,
    )


_MARK_TIMES = ("observed_at", "log_read_at", "losses_read_at", "progress_read_at")


def state_at(state: JobState, now: datetime) -> JobState:
    """`state` with no time of ftmon's own after `now` (the same object if none was)."""
    conditions = _conditions(state.conditions, now)
    late = [name for name in _MARK_TIMES if ahead(getattr(state.marks, name), now)]
    progressed = ahead(state.progress.at, now)
    if conditions is state.conditions and not late and not progressed:
        return state
    marks: dict[str, Any] = dict.fromkeys(late, now)
    return replace(
        state,
        conditions=conditions,
        marks=replace(state.marks, **marks),
        progress=replace(state.progress, at=_back(state.progress.at, now)),
    )
