"""`job_conditions.step` on a poll that changes no condition gives back the state itself
and builds no words; whenever something fires, reminds or resolves it does so as before."""

from __future__ import annotations

import pytest

from monitor.core.alerts import ConditionState, Kind
from monitor.core.diff import diff
from monitor.core.job_conditions import step
from monitor.core.memory import JobState
from monitor.core.settings import Thresholds
from tests.core.factories import at, together

TH = Thresholds()
STALL = TH.queue_stall.total_seconds() / 60  # minutes
REPEAT = TH.repeat.total_seconds() / 60


def _queued_since_start() -> JobState:
    state, _ = diff(None, together("queued"), (), at(0), TH)
    return state


def _stalled() -> JobState:
    state, _ = step(_queued_since_start(), at(STALL), TH)
    return state


def _left_queue() -> JobState:
    state, _ = diff(
        _stalled(), together("running", started_at=at(STALL + 1)), (), at(STALL + 1), TH
    )
    return state


@pytest.mark.parametrize(
    ("state", "minutes", "said"),
    [
        # queued, not yet long enough: nothing
        (_queued_since_start, STALL - 1, []),
        # queued long enough: the stall fires
        (_queued_since_start, STALL, [ConditionState.FIRING]),
        # stalled, reminder not yet due: nothing
        (_stalled, STALL + REPEAT / 2, []),
        # stalled, reminder due: it reminds
        (_stalled, STALL + REPEAT, [ConditionState.REMINDER]),
    ],
)
def test_step_changes_the_state_only_when_a_condition_moves(
    state: object, minutes: float, said: list[ConditionState]
) -> None:
    """Nothing said: the very same state; something said: a new one with its condition."""
    before: JobState = state()  # type: ignore[operator]
    after, alerts = step(before, at(minutes), TH)
    assert [a.state for a in alerts] == said
    assert (after is before) is (not said)


def test_a_stall_that_cleared_resolves_once() -> None:
    """The diff that sees the job leave the queue resolves the stall; the next step says
    nothing and keeps the state as it is."""
    state = _left_queue()
    assert str(Kind.QUEUE_STALLED) not in state.conditions
    again, alerts = step(state, at(STALL + 2), TH)
    assert (again, alerts) == (state, [])
    assert again is state
