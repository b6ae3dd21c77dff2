"""A poll skips the diff of an open job that nothing touched (`quiet.diff_needed`):
exact, so every time-based condition still fires on time and every reminder comes.

Each test diffs a job, then asks about the same snapshot listed again later: wherever the
skip is allowed the diff itself must leave the state as it was and raise nothing, and
where a stall, an overrun or a reminder falls due the skip must not be allowed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.alerts import Alert, ConditionState, Kind
from monitor.core.diff import diff
from monitor.core.memory import JobState
from monitor.core.model import JobSnapshot, Novelty
from monitor.core.quiet import diff_needed
from monitor.core.reads import Reads
from monitor.core.settings import Thresholds
from tests.core.factories import at, event, openai, together

TH = Thresholds()
NO_READS = Reads(log=False, losses=False, retrieve=False)


def polled(state: JobState | None, snapshot: JobSnapshot, now: datetime) -> JobState:
    """The state a poll leaves: the diff, then the mark the poll records."""
    new, _ = diff(state, snapshot, (), now, TH, silent=state is None)
    return replace(new, marks=replace(new.marks, snapshot=snapshot.mark))


def rediffed(state: JobState, snapshot: JobSnapshot, now: datetime) -> tuple[bool, list[Alert]]:
    """(state unchanged, alerts) when the same snapshot is diffed again at `now`."""
    new, alerts = diff(state, snapshot, (), now, TH)
    marks = replace(state.marks, observed_at=new.marks.observed_at)
    return new == replace(state, marks=marks), alerts


def skips(state: JobState, snapshot: JobSnapshot, now: datetime) -> bool:
    return not diff_needed(snapshot, state, NO_READS, now, TH)


def test_an_untouched_running_job_is_skipped_and_its_diff_would_do_nothing() -> None:
    snapshot = together("running", updated_at=at(1), started_at=at(1))
    state = polled(None, snapshot, at(2))
    assert skips(state, snapshot, at(3))
    assert rediffed(state, snapshot, at(3)) == (True, [])


def test_a_queue_stall_fires_when_due_though_nothing_changed() -> None:
    snapshot = together("queued")
    state = polled(None, snapshot, at(1))
    just_before = at(TH.queue_stall.total_seconds() / 60 - 1)
    due = at(TH.queue_stall.total_seconds() / 60)
    assert skips(state, snapshot, just_before)
    assert not skips(state, snapshot, due)
    _, alerts = rediffed(state, snapshot, due)
    assert [(a.kind, a.state) for a in alerts] == [(Kind.QUEUE_STALLED, ConditionState.FIRING)]


def test_a_reminder_comes_when_due_and_not_before() -> None:
    snapshot = together("queued")
    fired_at = at(TH.queue_stall.total_seconds() / 60)
    state = polled(polled(None, snapshot, at(1)), snapshot, fired_at)
    assert Kind.QUEUE_STALLED in state.conditions
    between = fired_at + TH.repeat / 2
    reminder = fired_at + TH.repeat
    assert skips(state, snapshot, between)
    assert rediffed(state, snapshot, between) == (True, [])
    assert not skips(state, snapshot, reminder)
    _, alerts = rediffed(state, snapshot, reminder)
    assert [a.state for a in alerts] == [ConditionState.REMINDER]


def test_a_progress_stall_fires_when_due() -> None:
    snapshot = openai("running", started_at=at(1))
    state = polled(None, snapshot, at(1))
    due = state.progress.at + TH.progress_stall  # type: ignore[operator]
    assert skips(state, snapshot, due - timedelta(seconds=1))
    assert not skips(state, snapshot, due)
    assert [a.kind for a in rediffed(state, snapshot, due)[1]] == [Kind.PROGRESS_STALLED]


def test_an_eta_overrun_fires_when_due() -> None:
    snapshot = openai("running", started_at=at(1), estimated_finish=at(60))
    state = polled(None, snapshot, at(2))
    state = polled(state, snapshot, at(3))  # progress stall kept away: a step moved
    state = replace(state, progress=replace(state.progress, at=at(200)))
    due = at(60) + TH.eta_grace
    assert skips(state, snapshot, due - timedelta(seconds=1))
    assert not skips(state, snapshot, due)
    assert Kind.ETA_OVERRUN in [a.kind for a in rediffed(state, snapshot, due)[1]]


@pytest.mark.parametrize(
    "change",
    [
        {"queue_depth": 7},
        {"steps_completed": 12},
        {"total_steps": 99},
        {"model": "another-model"},
        {"metadata": {"team": "ml"}},
        {"n_epochs": 4},
    ],
    ids=lambda c: next(iter(c)),
)
def test_a_field_outside_the_mark_that_changed_is_diffed(change: dict[str, object]) -> None:
    snapshot = together("queued", queue_depth=3, steps_completed=10)
    state = polled(None, snapshot, at(1))
    moved = replace(snapshot, **change)  # type: ignore[arg-type]
    assert moved.mark == state.marks.snapshot  # the mark does not see it
    assert not skips(state, moved, at(2))
    assert rediffed(state, moved, at(2))[0] is False


def test_reads_events_novelties_and_new_jobs_are_always_diffed() -> None:
    snapshot = together("running", updated_at=at(1))
    state = polled(None, snapshot, at(1))
    assert diff_needed(snapshot, None, NO_READS, at(2), TH)
    assert diff_needed(snapshot, state, replace(NO_READS, log=True), at(2), TH)
    with_log = replace(snapshot, events=(event("epoch_complete", "Epoch 1", 2),))
    assert diff_needed(with_log, state, NO_READS, at(2), TH)
    odd = replace(snapshot, novelties=(Novelty(what="status", value="warming"),))
    assert diff_needed(odd, state, NO_READS, at(2), TH)
    assert diff_needed(replace(snapshot, updated_at=at(2)), state, NO_READS, at(2), TH)


STATUSES = ["pending", "queued", "running", "compressing", "uploading", "cancel_requested"]


@settings(max_examples=300, deadline=None)
@given(
    raws=st.lists(st.sampled_from(STATUSES), min_size=1, max_size=4),
    gaps=st.lists(st.integers(min_value=0, max_value=60 * 30), min_size=1, max_size=6),
    eta=st.none() | st.integers(min_value=0, max_value=600),
)
def test_a_skipped_diff_is_always_a_diff_that_does_nothing(
    raws: list[str], gaps: list[int], eta: int | None
) -> None:
    """Over random status paths and poll times (minutes), whenever the skip is allowed
    the diff leaves the state as it was and raises nothing."""
    state: JobState | None = None
    now = at(0)
    for raw in raws:
        estimate = at(eta) if eta is not None else None
        snapshot = together(raw, started_at=at(1), estimated_finish=estimate)
        state = polled(state, snapshot, now)
        for gap in gaps:
            now += timedelta(minutes=gap)
            if skips(state, snapshot, now):
                assert rediffed(state, snapshot, now) == (True, [])
            else:
                state = polled(state, snapshot, now)
