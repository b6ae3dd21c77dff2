"""The poll plan (pure): which logs a poll reads, how deep a list reaches, tombstones."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from monitor.core.diff import diff
from monitor.core.memory import Fact, JobState
from monitor.core.model import JobError, JobSnapshot, Level, Status
from monitor.core.plan import (
    LIST_SLACK,
    list_bound,
    tombstone,
    unchanged,
    worth_a_look,
)
from monitor.core.reads import LOSS_READ_EVERY, LogReason, log_reason, losses_due
from monitor.core.settings import Thresholds
from tests.core.factories import T0, at, event, openai, together

TH = Thresholds(progress_stall=timedelta(minutes=45))


def seen(snapshot: JobSnapshot, *, read: float, progress: float, log_read: bool = True) -> JobState:
    """The state after a poll at minute `read` whose log's newest line was at `progress`
    (`log_read=False`: a poll that did not read the log)."""
    state, _ = diff(None, snapshot, [], at(read), TH)
    log_read_at = at(read) if log_read else None
    return replace(
        state,
        marks=replace(state.marks, snapshot=snapshot.mark, log_read_at=log_read_at),
        progress=replace(state.progress, at=at(progress)),
    )


RUNNING = openai("running")


@dataclass(frozen=True, kw_only=True)
class LogCase:
    name: str
    snapshot: JobSnapshot
    state: JobState | None = None
    minute: float
    baseline: bool = False
    reason: LogReason | None


LOG_CASES = [
    # first sight: read it, unless a baseline poll meets a job long finished
    LogCase(name="new", snapshot=RUNNING, minute=10, reason=LogReason.NEW),
    LogCase(name="new-finished-alert-mode", snapshot=openai("failed"), minute=10,
            reason=LogReason.NEW),
    LogCase(name="new-finished-baseline", snapshot=openai("succeeded"), minute=10,
            baseline=True, reason=None),
    LogCase(name="new-running-baseline", snapshot=RUNNING, minute=10, baseline=True,
            reason=LogReason.NEW),
    # anything in the snapshot moved: read it
    LogCase(name="status-moved", snapshot=openai("succeeded"),
            state=seen(RUNNING, read=9, progress=9), minute=10, reason=LogReason.CHANGED),
    LogCase(name="updated_at-moved", snapshot=together("queued", updated_at=at(9)),
            state=seen(together("queued", updated_at=at(1)), read=5, progress=1), minute=10,
            reason=LogReason.CHANGED),
    # nothing moved and nothing runs: no log
    LogCase(name="queued-still", snapshot=together("queued"),
            state=seen(together("queued"), read=5, progress=1), minute=60, reason=None),
    # running, unchanged: by the quiet-time cadence
    LogCase(name="running-never-read", snapshot=RUNNING,
            state=seen(RUNNING, read=5, progress=5, log_read=False), minute=10,
            reason=LogReason.UNREAD),
    LogCase(name="running-active", snapshot=RUNNING, state=seen(RUNNING, read=9, progress=8.5),
            minute=10, reason=LogReason.DUE),
    LogCase(name="running-quiet-not-yet", snapshot=RUNNING,
            state=seen(RUNNING, read=8, progress=0), minute=11, reason=None),
    LogCase(name="running-quiet-half-time", snapshot=RUNNING,
            state=seen(RUNNING, read=8, progress=0), minute=12, reason=LogReason.DUE),
    LogCase(name="running-quiet-cap-not-yet", snapshot=RUNNING,
            state=seen(RUNNING, read=30, progress=0), minute=34, reason=None),
    LogCase(name="running-quiet-cap", snapshot=RUNNING, state=seen(RUNNING, read=30, progress=0),
            minute=35, reason=LogReason.DUE),
    LogCase(name="same-instant", snapshot=RUNNING, state=seen(RUNNING, read=10, progress=10),
            minute=10, reason=None),
    # the stall clock ran out on the last read: read before alerting
    LogCase(name="stall-check", snapshot=RUNNING, state=seen(RUNNING, read=44, progress=0),
            minute=45.5, reason=LogReason.STALL_CHECK),
]  # fmt: skip


@pytest.mark.parametrize("case", LOG_CASES, ids=lambda c: c.name)
def test_log_reason(case: LogCase) -> None:
    """First sight, a moved snapshot, the quiet-time cadence of a running job, and the
    read before a stall alert."""
    reason = log_reason(case.snapshot, case.state, at(case.minute), TH, baseline=case.baseline)
    assert reason == case.reason


def test_the_mark_is_the_same_for_a_list_entry_and_its_retrieve() -> None:
    """Step counts only a retrieve carries are not in the mark (else every retrieve would
    read as a change on the next poll); times, estimates and statuses are changes."""
    listed = together("running", estimated_finish=at(60))
    retrieved = replace(listed, steps_completed=10, queue_depth=0, epochs_completed=1)
    assert listed.mark == retrieved.mark
    assert listed.mark != replace(listed, updated_at=at(3)).mark
    assert listed.mark != replace(listed, estimated_finish=at(70)).mark


@pytest.mark.parametrize(
    ("snapshot", "stored"),
    [
        # a running Together job with an estimate and a price
        (
            together("running", estimated_finish=at(60), updated_at=at(2), price_usd=12.5),
            "837014a6a66090af",
        ),
        # a failed OpenAI job with its error
        (
            openai(
                "failed",
                error=JobError(code="x", message="boom"),
                finished_at=at(9),
                trained_tokens=1000,
            ),
            "3776ce49c6ba6265",
        ),
    ],
)
def test_the_mark_is_the_digest_earlier_versions_stored(snapshot: JobSnapshot, stored: str) -> None:
    """Marks are stored with each job: a new digest would read every job as changed once
    after an upgrade (a log read for each, finished jobs looked at again)."""
    assert snapshot.mark == stored
    assert snapshot.mark == stored  # worked out once, the same the second time


def state_created(minutes: float, raw: str, job_id: str) -> JobState:
    return diff(None, openai(raw, job_id=job_id, created_at=at(minutes)), [], at(minutes), TH)[0]


def test_list_bound() -> None:
    """First poll: the lookback horizon; then the oldest open job, else the newest known."""
    lookback = timedelta(days=7)
    now = at(600)
    old_open = state_created(100, "queued", "a")
    done = state_created(300, "succeeded", "b")
    newest = state_created(500, "succeeded", "c")
    states = {s.job_id: s for s in (old_open, done, newest)}
    assert list_bound(states, now, lookback, first=True) == now - lookback
    assert list_bound({}, now, lookback, first=False) == now - lookback
    assert list_bound(states, now, lookback, first=False) == at(100)
    del states["a"]
    assert list_bound(states, now, lookback, first=False) == at(500) - LIST_SLACK
    gone = replace(old_open, facts=old_open.facts | {Fact.VANISHED})
    states["a"] = gone  # a vanished job is not waited for
    assert list_bound(states, now, lookback, first=False) == at(500) - LIST_SLACK


def test_worth_a_look() -> None:
    """Finished jobs whose status stands are skipped; `jobs` narrows first sight only."""
    done = state_created(0, "succeeded", "ftjob-abc123")
    assert not worth_a_look(openai("succeeded"), done, follow=False, followed=frozenset())
    assert worth_a_look(openai("failed"), done, follow=False, followed=frozenset())
    assert worth_a_look(openai("running"), None, follow=False, followed=frozenset())
    assert not worth_a_look(openai("running"), None, follow=True, followed=frozenset({"x"}))
    followed = frozenset({"ftjob-abc123"})
    assert worth_a_look(openai("running"), None, follow=True, followed=followed)


def test_losses_due() -> None:
    """Together losses: at once when a job runs, then LOSS_READ_EVERY apart, once more when
    it stops; never for OpenAI (its losses are log lines) or a job that never ran; a step
    count that has not passed the last step read saves the request."""
    assert losses_due(together("running"), None, at(0))
    assert not losses_due(together("queued"), None, at(0))
    assert not losses_due(openai("running"), None, at(0))
    read = seen(together("running"), read=1, progress=1)
    read = replace(read, loss=replace(read.loss, checked_step=40))
    read = replace(read, marks=replace(read.marks, losses_read_at=at(1)))
    assert not losses_due(together("running"), read, at(2))
    assert losses_due(together("running"), read, at(1) + LOSS_READ_EVERY)
    assert losses_due(together("completed"), read, at(2))  # the last rows
    assert not losses_due(together("completed"), replace(read, status=Status.SUCCEEDED), at(9))
    later = at(1) + LOSS_READ_EVERY
    assert not losses_due(together("running", steps_completed=40), read, later)
    assert losses_due(together("running", steps_completed=41), read, later)


def test_a_finished_job_becomes_a_tombstone() -> None:
    """Log memory goes; facts, ids and links stay; re-reading the same log raises nothing
    and changes nothing, and a line written after the last one read is still new."""
    log = [
        event("metrics", f"step {i}", i, key=f"e{i}", data={"train_loss": 1.0}) for i in range(50)
    ]
    done = openai("succeeded", finished_at=at(60))
    state, _ = diff(None, done, log, at(60), TH)
    small = tombstone(state)
    assert small.log.recent == () and small.loss.recent == () and small.log.seen_keys == ()
    assert small.facts == state.facts and small.status_path == state.status_path[-1:]
    assert (small.job_id, small.status, small.log.last_key) == (
        state.job_id,
        state.status,
        state.log.last_key,
    )
    again, alerts = diff(small, done, log, at(61), TH)
    assert alerts == [] and again.facts == small.facts and again.log.seen_keys == ()
    assert tombstone(small) == small
    later = event("message", "a refund of $1.00", 70, key="late", level=Level.INFO)
    refunded, alerts = diff(small, done, [*log, later], at(71), TH)
    assert refunded.log.seen_keys == ("late",)


def test_a_failed_job_awaiting_its_restart_is_kept_whole() -> None:
    """The restart alert quotes the old job's recent events: no tombstone until linked."""
    failed, _ = diff(None, together("error"), [event("job_error", "node lost", 5)], at(6), TH)
    assert failed.restart.awaiting_since is not None
    assert tombstone(failed) == failed
    running, _ = diff(None, together("running"), [event("job_start", "go", 1)], at(2), TH)
    assert tombstone(running) == running


def test_unchanged_ignores_only_the_observation_time() -> None:
    state, _ = diff(None, together("running"), [], T0, TH)
    assert unchanged(state, replace(state, marks=replace(state.marks, observed_at=at(5))))
    assert not unchanged(state, replace(state, progress=replace(state.progress, step=3)))
    assert not unchanged(None, state)
