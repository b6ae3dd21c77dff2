"""Which requests a poll needs, and what a job costs once it is finished (pure).

The rules, each a request not made:

- The job list reaches back only as far as needed: on a provider's first poll, to the
  `lookback` horizon; after that, to the oldest unfinished job, and otherwise to the
  newest job already known (less `LIST_SLACK`, for a job that shows up late). OpenAI
  pages newest first, so this bound is what keeps its list at one page or two.
- A finished job whose status has not moved is not looked at again: not diffed, no log.
- A log is read (`log_reason`) when the job is new, when its snapshot changed (the
  `snapshot_mark` of the fields a change shows in), or when it runs and is *due*, and
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
- A baseline first poll does not read the logs of jobs already finished: nothing about
  them is alerted.
- A finished job, once its last alert is out, is kept as a `tombstone`: the facts, ids
  and restart links that dedup and restart chains need, without its log memory (about a
  kilobyte less per job: what lets ten thousand jobs fit in one small process).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import TypeVar

from monitor.core.memory import Fact, JobState, LogCursor
from monitor.core.model import JobEvent, JobSnapshot, Status
from monitor.core.settings import Thresholds

T = TypeVar("T")
LOG_IDLE_CAP = timedelta(minutes=5)
SIGNALLED_IDLE_CAP = timedelta(minutes=15)
LIST_SLACK = timedelta(minutes=10)
LOSS_READ_EVERY = timedelta(minutes=5)  # as LOG_IDLE_CAP: how late a loss anomaly may be
LOSS_BACKOFF_CAP = timedelta(hours=6)
PROGRESS_READ_EVERY = timedelta(minutes=10)
SPACING_LINES = 6
JUST_AFTER = timedelta(microseconds=1)


class LogReason(StrEnum):
    """Why a job's log is read this poll."""

    NEW = "new"
    CHANGED = "changed"
    UNREAD = "unread"  # running, and its log never read by this state
    DUE = "due"  # running, and due by its quiet-time cadence
    STALL_CHECK = "stall_check"  # running; the stall clock ran out on the last read


def open_jobs(states: Iterable[JobState]) -> list[JobState]:
    """Jobs still worth watching: not finished and not gone (a 404 was already alerted)."""
    return [s for s in states if not s.status.terminal and Fact.VANISHED not in s.facts]


@dataclass(frozen=True, slots=True)
class Settled:
    """What a poll keeps of a settled job (`settled`): enough to see that the provider
    changed it, without its whole state (which the store reads back only then)."""

    raw_status: str
    mark: str | None
    created_at: datetime


def settled(state: JobState) -> Settled | None:
    """A finished job nothing can alert about again unless the provider changes it (no open
    condition, no restart awaited or linked): its index entry, else None."""
    if (
        not state.status.terminal
        or state.conditions
        or state.restart.awaiting_since is not None
        or state.restart.successor is not None
    ):
        return None
    return Settled(
        raw_status=state.raw_status, mark=state.marks.snapshot, created_at=state.created_at
    )


def list_bound(
    states: Mapping[str, JobState],
    now: datetime,
    lookback: timedelta,
    *,
    first: bool,
    finished: Iterable[Settled] = (),
) -> datetime:
    """The oldest creation time this poll's job list must reach (inclusive); `finished`
    are the settled jobs kept apart from `states`."""
    horizon = now - lookback
    known = [s.created_at for s in states.values()] + [s.created_at for s in finished]
    if first or not known:
        return horizon
    newest = max(known) - LIST_SLACK
    return min([newest, *(s.created_at for s in open_jobs(states.values()))])


def worth_a_look(
    snapshot: JobSnapshot,
    state: JobState | Settled | None,
    *,
    follow: bool,
    followed: frozenset[str],
    forgotten_before: datetime | None = None,
) -> bool:
    """Finished jobs cost nothing after their last alert; `follow` (a `jobs` list is set)
    narrows the watch to the named jobs, the jobs they were restarted as, and known jobs.

    A finished job is looked at again only when the provider changed it since (a line
    written after the end, such as a refund line after a restart, moves its
    `updated_at` and price). A job without state created before `forgotten_before` was
    forgotten by retention (`storage/retention.py`): it is not new, and is left alone.
    """
    if state is None:
        if forgotten_before and snapshot.created_at < forgotten_before:
            return snapshot.id in followed
        return not follow or snapshot.id in followed
    if isinstance(state, Settled):
        finished, mark = True, state.mark
    else:
        finished, mark = state.status.terminal, state.marks.snapshot
    if finished and state.raw_status == snapshot.raw_status:
        return mark is not None and mark != snapshot_mark(snapshot)
    return True


def nudged_unknown(
    nudged: Iterable[str],
    states: Container[str],
    listed: Mapping[str, object],
    jobs: Sequence[str],
    followed: frozenset[str],
) -> list[str]:
    """Job ids a webhook named that this poll must retrieve: not tracked, not in the list,
    and watched (every job, or a `jobs` list naming them)."""
    return sorted(
        job
        for job in nudged
        if job not in states and job not in listed and (not jobs or job in followed)
    )


def nudged_jobs(
    nudged: Iterable[str],
    watched: Container[str],
    states: Container[str],
    jobs: Sequence[str],
    followed: frozenset[str],
) -> list[str]:
    """Job ids a narrow poll (a webhook's nudge alone) retrieves: the tracked ones it named
    that the watch filter takes, and the unknown ones it would watch."""
    known = sorted(job for job in set(nudged) if job in watched)
    return known + nudged_unknown(nudged, states, {}, jobs, followed)


def snapshot_mark(snapshot: JobSnapshot) -> str:
    """A short digest of the fields a job's change shows in, in the list and in a retrieve
    alike (so a retrieve that adds step counts does not read as a change next poll)."""
    s = snapshot
    parts = (
        s.raw_status,
        s.updated_at,
        s.started_at,
        s.finished_at,
        s.output_name,
        s.trained_tokens,
        s.estimated_finish,
        s.price_usd,
        s.error,
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


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
    if state.marks.snapshot != snapshot_mark(snapshot):
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


def unchanged(previous: JobState | None, state: JobState) -> bool:
    """True when a poll left the state as it was (the time it was observed aside)."""
    if previous is None:
        return False
    marks = replace(state.marks, observed_at=previous.marks.observed_at)
    return previous == replace(state, marks=marks)


def batches(items: Sequence[T], reads: Callable[[T], bool], size: int) -> list[list[T]]:
    """`items` in order, cut so that no batch holds more than `size` items that `reads`;
    always at least one batch (an empty poll still commits its health)."""
    out: list[list[T]] = [[]]
    count = 0
    for item in items:
        if reads(item):
            if count == size:
                out.append([])
                count = 0
            count += 1
        out[-1].append(item)
    return out


def tombstone(state: JobState) -> JobState:
    """A finished job's small remainder, once nothing about it can alert again.

    Kept: facts and signals (dedup, and the cause if its status ever moves again), ids,
    restart links, the last status. Gone: the log memory; every line up to the last one
    read counts as seen through the log's `floor`. A failed job still waiting for its restart
    to appear is kept whole: the restart alert quotes its recent events.
    """
    if not state.status.terminal or state.conditions or state.restart.awaiting_since:
        return state
    if not (state.log.seen_keys or state.log.recent or state.loss.recent or state.status_path[1:]):
        return state
    newest = state.progress.at
    floor = newest + JUST_AFTER if newest is not None else state.log.floor
    return replace(
        state,
        log=LogCursor(
            floor=max(filter(None, (floor, state.log.floor)), default=None),
            last_key=state.log.last_key,
        ),
        loss=replace(state.loss, recent=()),
        status_path=state.status_path[-1:],
    )
