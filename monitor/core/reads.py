"""What one poll reads of one listed job beyond its list entry (pure).

Each question is answered alone (is the log due, are the losses due, does the list lack
something a retrieve would bring), then `job_reads` puts the answers together. Where a
retrieve carries the log (`retrieve_has_log`), a due log read is made as a retrieve, so
the same one request also brings what the list lacks. The rules, each a request not
made:

- A log is read (`log_reason`) when the job is new, when its snapshot changed (the
  `JobSnapshot.mark` of the fields a change shows in), or when it runs and is *due*, and
  always before the progress-stall clock could run out on a stale log. OpenAI's job
  object does not move with new events, so its running jobs are due when their next line
  is expected (`event_spacing`, learnt from their recent lines); when it does not come, or
  the spacing is unknown, after half the time the log has been quiet. Never more than
  `LOG_IDLE_CAP` apart: that bounds how late a loss anomaly on a quiet job is seen.
  A list that carries `updated_at` shows activity, so such a running job is re-read
  unprompted only as a safety net, `SIGNALLED_IDLE_CAP` apart (whether Together's
  `updated_at` moves with a new log line is undocumented: the cap is what bounds it).
- Loss readings from a metrics endpoint (where the provider's traits say losses need a
  request; otherwise they come in the log) are read for a running job `LOSS_READ_EVERY`
  apart, whether or not its log is read, once more on the poll that sees it stop running,
  only from the step after the last one read, and not while the job's own step count shows
  no step past it (`losses_due`). Training steps move the loss curve long before the next
  log line (an epoch can be half an hour): this bounds how late such a loss anomaly is
  seen. A metrics endpoint that answers 404 for a job (a job type without metrics, an
  older API) is left alone for that job: `LOSS_READ_EVERY` doubled per miss, at most
  `LOSS_BACKOFF_CAP`.
- Where the job list lacks what a person needs (`list_lacks_progress`: Together's list
  has no queue position, steps or epochs), the job is retrieved (`retrieve_reason`):
  a waiting job on the poll its queue-stall alert fires or reminds (so the alert names
  its queue position), and a running job every `PROGRESS_READ_EVERY` (for `status`).
  A retrieve that carries the log (`retrieve_has_log`) stands in for the log read, so
  the budget beyond today's reads is at most one request per running job per
  `PROGRESS_READ_EVERY` and one per stalled queued job per queue-stall alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from monitor.core import job_conditions
from monitor.core.memory import JobState
from monitor.core.model import JobEvent, JobSnapshot, Status
from monitor.core.settings import Thresholds

LOG_IDLE_CAP = timedelta(minutes=5)
SIGNALLED_IDLE_CAP = timedelta(minutes=15)
LOSS_READ_EVERY = timedelta(minutes=5)  # as LOG_IDLE_CAP: how late a loss anomaly may be
LOSS_BACKOFF_CAP = timedelta(hours=6)
PROGRESS_READ_EVERY = timedelta(minutes=10)
SPACING_LINES = 6


class LogReason(StrEnum):
    """Why a job's log is read this poll."""

    NEW = "new"
    CHANGED = "changed"
    UNREAD = "unread"  # running, and its log never read by this state
    DUE = "due"  # running, and due by its quiet-time cadence
    STALL_CHECK = "stall_check"  # running; the stall clock ran out on the last read


def log_reason(
    snapshot: JobSnapshot,
    state: JobState | None,
    now: datetime,
    thresholds: Thresholds,
    *,
    baseline: bool,
) -> LogReason | None:
    """Why this job's log must be read now, or None to skip it this poll."""
    if state is None:
        return None if baseline and snapshot.status.terminal else LogReason.NEW
    if state.marks.snapshot != snapshot.mark:
        return LogReason.CHANGED
    if snapshot.status is not Status.RUNNING:
        return None
    read_at = state.marks.log_read_at
    if read_at is None:
        return LogReason.UNREAD
    elapsed = now - read_at
    if elapsed <= timedelta(0):
        return None  # read at this very instant already
    progress = state.progress.at or state.created_at
    if now - progress >= thresholds.progress_stall:
        return LogReason.STALL_CHECK
    if snapshot.updated_at is not None:  # the snapshot shows activity; this is a safety net
        return LogReason.DUE if elapsed >= SIGNALLED_IDLE_CAP else None
    spacing = state.marks.log_spacing
    if spacing is not None:  # the job writes a line about every `spacing` seconds
        expected = progress + timedelta(seconds=spacing)
        if now < expected:
            return LogReason.DUE if elapsed >= LOG_IDLE_CAP else None
        if read_at < expected:
            return LogReason.DUE  # its next line is due and nobody has looked since
    quiet = max(read_at - progress, timedelta(0))
    return LogReason.DUE if elapsed >= min(LOG_IDLE_CAP, quiet / 2) else None


def losses_due(snapshot: JobSnapshot, state: JobState | None, now: datetime) -> bool:
    """Whether this poll should read the job's new loss readings."""
    if not snapshot.traits.losses_need_request:
        return False
    if (
        state is not None
        and state.marks.losses_retry_at is not None
        and now < state.marks.losses_retry_at
    ):
        return False  # the endpoint answered 404 for this job: backing off
    running = snapshot.status is Status.RUNNING
    was_running = state is not None and state.status is Status.RUNNING
    if state is None or state.marks.losses_read_at is None:
        return running
    if not (running or was_running):
        return False
    steps = snapshot.steps_completed
    if (
        steps is not None
        and state.loss.checked_step is not None
        and steps <= state.loss.checked_step
    ):
        return False
    return not running or now - state.marks.losses_read_at >= LOSS_READ_EVERY


def loss_backoff(misses: int) -> timedelta:
    """How long to leave a job's metrics alone after its `misses`-th 404 in a row."""
    factor: int = 2 ** min(misses, 12)
    return min(LOSS_READ_EVERY * factor, LOSS_BACKOFF_CAP)


class RetrieveReason(StrEnum):
    """Why a listed job is retrieved this poll (its list entry lacks what is needed)."""

    QUEUE_POSITION = "queue_position"
    PROGRESS = "progress"


def retrieve_reason(
    snapshot: JobSnapshot,
    state: JobState | None,
    now: datetime,
    *,
    stall_alert_due: bool,
) -> RetrieveReason | None:
    """Whether to retrieve a listed job for what the list lacks (see the module doc).

    `stall_alert_due`: the queue-stall condition fires or reminds on this poll.
    """
    if not snapshot.traits.list_lacks_progress:
        return None
    if snapshot.status.waiting and stall_alert_due:
        return RetrieveReason.QUEUE_POSITION
    if snapshot.status is not Status.RUNNING or state is None:
        return None
    read = state.marks.progress_read_at
    if read is None or now - read >= PROGRESS_READ_EVERY:
        return RetrieveReason.PROGRESS
    return None


def event_spacing(previous: JobState | None, events: Sequence[JobEvent]) -> float | None:
    """Seconds between a job's log lines, to expect its next one: the median gap among
    the newest `SPACING_LINES` lines just read (one long wait, such as the queue, does not
    skew it), averaged with the figure the job had."""
    anchor = previous.progress.at if previous is not None else None
    times = sorted(e.created_at for e in events if anchor is None or e.created_at > anchor)
    if anchor is not None:
        times.insert(0, anchor)
    recent = times[-SPACING_LINES:]
    gaps = sorted((b - a).total_seconds() for a, b in pairwise(recent) if b > a)
    known = previous.marks.log_spacing if previous is not None else None
    if not gaps:
        return known
    sample = gaps[len(gaps) // 2]
    return sample if known is None else (known + sample) / 2


@dataclass(frozen=True, slots=True)
class Reads:
    """What one poll reads of one listed job beyond its list entry."""

    log: bool
    losses: bool
    retrieve: bool

    @property
    def any(self) -> bool:
        return self.log or self.losses or self.retrieve


def job_reads(
    snapshot: JobSnapshot,
    state: JobState | None,
    now: datetime,
    thresholds: Thresholds,
    *,
    baseline: bool,
) -> Reads:
    """The plan's verdicts for one job. Where a retrieve carries the log, a due log read is
    made as a retrieve: the same one request also brings what the list lacks."""
    traits = snapshot.traits
    log_due = not snapshot.events and bool(
        log_reason(snapshot, state, now, thresholds, baseline=baseline)
    )
    stall_due = job_conditions.queue_alert_due(state, snapshot, now, thresholds)
    retrieve = retrieve_reason(snapshot, state, now, stall_alert_due=stall_due) is not None
    if log_due and traits.retrieve_has_log and traits.list_lacks_progress:
        retrieve = True
    return Reads(log=log_due, losses=losses_due(snapshot, state, now), retrieve=retrieve)
