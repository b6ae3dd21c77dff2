"""One poll's requests as values (pure): what to list, retrieve and read, and what the
poll writes back about its own reads.

`app.poll` carries each step out and hands the results to the next:

1. `scope`, before any request: the jobs the watch takes, which of them are open, the
   jobs followed by name or restart, and how deep the job list must reach (no list at
   all for a webhook's narrow poll, which retrieves only the jobs it names).
2. `retrieves`, once the list is in: tracked open jobs it no longer shows (each either
   read whole or found gone), and jobs a webhook named that it does not show.
3. `looked` then `job_plans`: the jobs worth a look, and for each, in the diff's order,
   what of it to read (`reads.Reads`). Between the two the shell reads back the whole
   state of settled jobs the provider changed again (`revive`).
4. `settle`, after the diff: the states to write, with the poll's marks (when the log,
   losses and progress were read), finished jobs as tombstones, no-ops dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.core import plan, provider_poll, reads, routing
from monitor.core.memory import JobState, PollMarks, evolve
from monitor.core.model import JobEvent, JobSnapshot
from monitor.core.plan import Settled
from monitor.core.reads import Reads, job_reads
from monitor.core.settings import ProviderConfig, Thresholds

JUST_BEFORE = timedelta(microseconds=1)  # list bounds are exclusive; plan's are inclusive


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """What a poll knows before its first request.

    `states` are the tracked jobs the watch filter takes; `list_after` the exclusive
    lower bound of the job list (None: no list, a narrow poll); `nudged` the jobs a
    narrow poll retrieves; `tracked` every job ftmon knows, when a webhook named some."""

    states: Mapping[str, JobState]
    settled: Mapping[str, Settled]
    followed: frozenset[str]
    open_ids: frozenset[str]
    tracked: frozenset[str]
    list_after: datetime | None
    nudged: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class JobPlan:
    """One job worth a look this poll, and what of it must be read."""

    snapshot: JobSnapshot
    reads: Reads


def scope(
    provider: ProviderConfig,
    everything: Mapping[str, JobState],
    settled: Mapping[str, Settled],
    now: datetime,
    *,
    first: bool,
    list_pages: bool,
    focus: frozenset[str] = frozenset(),
    narrow: bool = False,
) -> Scope:
    """Step 1. The list reaches back to the oldest job that can still change (all of the
    lookback on a first poll, or when a `jobs` entry is not known yet); a provider whose
    list does not page is listed whole, since that costs one request whatever the bound."""
    watch, jobs = provider.watch, provider.jobs
    states = {s.job_id: s for s in everything.values() if routing.watches_state(watch, jobs, s)}
    links = {s.restart.successor for s in states.values() if s.restart.successor}
    followed = frozenset(jobs) | links
    tracked = frozenset(everything.keys() | settled.keys()) if focus else frozenset()
    common: dict[str, Any] = {
        "states": states,
        "settled": settled,
        "followed": followed,
        "open_ids": frozenset(s.job_id for s in plan.open_jobs(states.values())),
        "tracked": tracked,
    }
    if narrow:
        watched = states.keys() | settled.keys()
        nudged = plan.nudged_jobs(focus, watched, tracked, jobs, followed)
        return Scope(**common, list_after=None, nudged=tuple(nudged))
    deep = first or any(job not in states and job not in settled for job in jobs)
    since = plan.list_bound(states, now, provider.lookback, first=deep, finished=settled.values())
    if not list_pages:
        since = min(since, now - provider.lookback)
    return Scope(**common, list_after=since - JUST_BEFORE)


def retrieves(
    scope: Scope, provider: ProviderConfig, listed: Mapping[str, JobSnapshot], focus: Iterable[str]
) -> list[str]:
    """Step 2. Open jobs the list does not show, then nudged jobs it does not show."""
    if scope.list_after is None:
        return list(scope.nudged)
    missing = sorted(scope.open_ids - listed.keys())
    return missing + plan.nudged_unknown(
        focus, scope.tracked, listed, provider.jobs, scope.followed
    )


@dataclass(frozen=True, slots=True)
class Keeper:
    """Which listed jobs to keep while the list is read: all but the settled ones the
    provider left as they were (`looked` drops them), so the finished part of a long list
    is never held whole."""

    scope: Scope
    everything: Mapping[str, JobState]

    def __call__(self, snapshot: JobSnapshot) -> bool:
        entry = self.basis(snapshot.id)
        if entry is None:
            return True
        return plan.worth_a_look(snapshot, entry, follow=False, followed=frozenset())

    def basis(self, job_id: str) -> Settled | None:
        """All the verdict on a job rests on besides its listed snapshot: its index entry
        when it is settled (None: it is always kept). The same snapshot with the same
        basis gets the same verdict, so a reader may skip a list entry it has seen before."""
        return None if job_id in self.everything else self.scope.settled.get(job_id)


def looked(
    scope: Scope,
    provider: ProviderConfig,
    listed: Iterable[JobSnapshot],
    everything: Mapping[str, JobState],
    forgotten_before: datetime | None,
) -> tuple[list[JobSnapshot], list[str]]:
    """Step 3a. The listed jobs worth a look, and the settled ones among them whose whole
    state must be read back first (the provider changed them again)."""
    worth = [
        s
        for s in listed
        if plan.worth_a_look(
            s,
            everything.get(s.id) or scope.settled.get(s.id),
            follow=bool(provider.jobs),
            followed=scope.followed,
            forgotten_before=forgotten_before,
        )
    ]
    return worth, [s.id for s in worth if s.id in scope.settled]


def job_plans(
    scope: Scope,
    provider: ProviderConfig,
    worth: Iterable[JobSnapshot],
    everything: Mapping[str, JobState],
    now: datetime,
    thresholds: Thresholds,
    *,
    baseline: bool,
    quiet_before: datetime | None,
) -> list[JobPlan]:
    """Step 3b. Each watched job worth a look with its reads, in the diff's order (by
    creation): a job seen first in a quiet baseline reads only what a baseline needs."""
    out = []
    for snapshot in sorted(worth, key=lambda s: (s.created_at, s.id)):
        state = everything.get(snapshot.id)
        if not routing.watched(provider.watch, snapshot, state, scope.followed):
            continue
        silent = provider_poll.first_sight_silent(snapshot, baseline, quiet_before)
        wanted = job_reads(snapshot, state, now, thresholds, baseline=silent)
        out.append(JobPlan(snapshot=snapshot, reads=wanted))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadsDone:
    """What a batch's reads did, job by job, for `settle`."""

    events: Mapping[str, Sequence[JobEvent]]  # per polled job: the lines this poll read
    snapshots: Mapping[str, JobSnapshot]
    logs_read: frozenset[str] = frozenset()
    losses_read: frozenset[str] = frozenset()
    losses_missing: frozenset[str] = frozenset()  # the metrics endpoint answered 404
    progress_read: frozenset[str] = frozenset()


def settle(
    before: Mapping[str, JobState], states: Iterable[JobState], done: ReadsDone, now: datetime
) -> list[JobState]:
    """Step 4. The states to write: the poll's marks added, finished jobs as tombstones,
    states the poll left as they were dropped."""
    out = []
    for state in states:
        job_id = state.job_id
        marks = _poll_marks(job_id, state.marks, before.get(job_id), done, now)
        state = plan.tombstone(evolve(state, marks=evolve(state.marks, **marks)))
        if not plan.unchanged(before.get(job_id), state):
            out.append(state)
    return out


def _poll_marks(
    job_id: str, marks: PollMarks, previous: JobState | None, done: ReadsDone, now: datetime
) -> dict[str, Any]:
    """The marks the poll's reads leave on one job (`PollMarks`), as changes to `marks`."""
    new: dict[str, Any] = {}
    snapshot = done.snapshots.get(job_id)
    if snapshot is not None:
        new["snapshot"] = snapshot.mark
        if job_id in done.logs_read:
            new["log_read_at"] = now
            new["log_spacing"] = reads.event_spacing(previous, done.events.get(job_id, ()))
    if job_id in done.losses_read:
        new.update(losses_read_at=now, losses_missing=0, losses_retry_at=None)
    if job_id in done.losses_missing:
        missing = new.get("losses_missing", marks.losses_missing)
        new.update(losses_missing=missing + 1, losses_retry_at=now + reads.loss_backoff(missing))
    if job_id in done.progress_read:
        new["progress_read_at"] = now
    return new
