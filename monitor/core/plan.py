"""How far a poll reaches, which jobs it looks at, and what a job costs once it is
finished (pure). What of each job to read is `reads`'s; the steps, `poll_plan`'s.

The rules, each a request not made:

- The job list reaches back only as far as needed: on a provider's first poll, to the
  `lookback` horizon; after that, to the oldest unfinished job, and otherwise to the
  newest job already known (less `LIST_SLACK`, for a job that shows up late). OpenAI
  pages newest first, so this bound is what keeps its list at one page or two.
- A finished job whose status has not moved is not looked at again: not diffed, no log.
- A baseline first poll does not read the logs of jobs already finished: nothing about
  them is alerted.
- A finished job, once its last alert is out, is kept as a `tombstone`: the facts, ids
  and restart links that dedup and restart chains need, without its log memory (about a
  kilobyte less per job: what lets ten thousand jobs fit in one small process).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from monitor.core.memory import Fact, JobState, LogCursor, evolve
from monitor.core.model import JobSnapshot

T = TypeVar("T")
LIST_SLACK = timedelta(minutes=10)
JUST_AFTER = timedelta(microseconds=1)


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
        return mark is not None and mark != snapshot.mark
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


def unchanged(previous: JobState | None, state: JobState) -> bool:
    """True when a poll left the state as it was (the time it was observed aside)."""
    if previous is None:
        return False
    if previous.marks != evolve(state.marks, observed_at=previous.marks.observed_at):
        return False  # the poll read something (a log, metrics): most changed states
    return previous == evolve(state, marks=previous.marks)


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
