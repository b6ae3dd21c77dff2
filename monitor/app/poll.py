"""One poll cycle of one provider: fetch -> diff -> commit.

The shell around the pure diff. `plan` and `reads` decide which requests a cycle needs
(the job list only as deep as the oldest unfinished job, a retrieve for a tracked job the
list no longer shows or for what the list lacks, a log only for a new or changed job or a
running one that is due, metrics every few minutes for the loss check where the provider's
traits say losses need a request); this module makes them concurrently, each waiting its
turn at the provider's pacer, retries a rate-limited one once the provider's pause is
over, and commits the outcome in one store transaction: only the job states that changed,
finished ones as tombstones.

A fetch error is never a change: if the job list fails, no job is diffed and only the
provider's own health moves; if one job's retrieve or log cannot be read, that job is left
as it was and picked up again next cycle (metrics that cannot be read hold back only the
loss check). Whatever else goes wrong reading or diffing is contained by `poll_guard`: a
crash while fetching, or a fetch past its deadline, is a failed poll (toward
`provider_down`); one job whose diff raises is left as it was; alerts and the stored
error pass the redactor.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import anyio
import structlog

from monitor.app.costs import cost_alerts
from monitor.app.poll_guard import (
    POLL_DEADLINE,
    DiffFailures,
    bounded_fetch,
    diff_isolated,
    redacted,
)
from monitor.core import api_changes, diff, incidents, plan, provider_poll, rewind, routing
from monitor.core.alerts import Alert
from monitor.core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
)
from monitor.core.model import (
    JobEvent,
    JobSnapshot,
    JobState,
    LossPoint,
    ProviderHealth,
    Status,
    Trouble,
)
from monitor.core.provider_poll import PolledJob
from monitor.core.reads import Reads, job_reads
from monitor.core.redact import REDACTOR
from monitor.core.settings import Config, FirstRun, ProviderConfig
from monitor.providers.base import ProviderClient
from monitor.storage.base import ProviderView, Store

log = structlog.get_logger("ftmon.service")
Logger = structlog.typing.FilteringBoundLogger
T = TypeVar("T")

Clock = Callable[[], datetime]
RATE_LIMIT_RETRIES = 4  # a rate-limited request is retried after the pause, this often
MAX_RATE_WAIT = 60.0  # seconds; a provider asking for longer fails the poll with retry_after
JUST_BEFORE = timedelta(microseconds=1)  # list bounds are exclusive; plan's are inclusive
READ_BATCH = 200  # jobs read per batch: what bounds a poll's memory, whatever the account


@dataclass(slots=True, kw_only=True)
class PollOutcome:
    provider: str
    ok: bool
    error: str | None = None
    jobs_seen: int = 0
    enqueued: list[Alert] = field(default_factory=list)
    running: bool = False  # something runs: poll at the base interval
    waiting: bool = False  # something waits in a queue: poll a little slower
    retry_after: float | None = None


@dataclass(slots=True)
class Tally:
    """What one poll did, over its batches (the `poll_completed` line)."""

    jobs: int = 0
    logs_read: int = 0
    changed: int = 0
    skipped: int = 0  # jobs left as they were after a failed read
    unreadable: int = 0  # jobs left as they were because their diff raised

    def add(self, fetched: Fetched, changed: int, unreadable: int) -> None:
        self.jobs += len(fetched.polled)
        self.logs_read += len(fetched.logs_read)
        self.changed += changed
        self.skipped += fetched.skipped
        self.unreadable += unreadable


@dataclass(frozen=True, slots=True)
class Planned:
    """One job worth a look this poll, and what of it must be read."""

    snapshot: JobSnapshot
    reads: Reads


@dataclass(slots=True)
class Fetched:
    """What a cycle read: jobs to diff, tracked jobs now gone, which logs were read."""

    polled: list[PolledJob] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    logs_read: set[str] = field(default_factory=set)
    losses_read: set[str] = field(default_factory=set)
    losses_missing: set[str] = field(default_factory=set)  # metrics answered 404
    api_failed: set[str] = field(default_factory=set)  # reads the API failed (`incidents`)
    progress_read: set[str] = field(default_factory=set)  # retrieved for what lists lack
    revived: dict[str, JobState] = field(default_factory=dict)  # settled jobs read whole again
    planned: list[Planned] = field(default_factory=list)  # jobs to diff and their reads
    skipped: int = 0  # jobs left as they were after a failed read
    unreadable: int = 0  # jobs left as they were because their diff raised

    def add(
        self,
        snapshot: JobSnapshot,
        events: Sequence[JobEvent],
        losses: Sequence[LossPoint] = (),
        *,
        log_read: bool = False,
    ) -> None:
        """One job to diff; a retrieve that brought the job's log along counts as a read."""
        if log_read or snapshot.events:
            self.logs_read.add(snapshot.id)
        self.polled.append(PolledJob(snapshot=snapshot, events=events, losses=losses))


class PollService:
    """Polls providers and commits what changed; the store caches the state between cycles."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clients: Mapping[str, ProviderClient],
        clock: Clock,
        *,
        deadline: float = POLL_DEADLINE,
        read_batch: int = READ_BATCH,
    ) -> None:
        self.config = config
        self.store = store
        self.clients = clients
        self.clock = clock
        self.deadline = deadline  # seconds for one poll's fetch (`poll_guard`)
        self.read_batch = read_batch
        self._unknown_logged: set[tuple[str, str]] = set()
        self._diff_failures = DiffFailures()

    async def poll(
        self, name: str, focus: frozenset[str] = frozenset(), *, narrow: bool = False
    ) -> PollOutcome:
        """One poll of provider `name`. `focus`: job ids a webhook named, read even where
        the list does not reach (an unknown one is then tracked). `narrow`: read only those
        (retrieve and new log lines, no list), for a nudge between full polls; the diff and
        the commit are those of any poll. The first poll of a provider is always full.

        The jobs worth a look are read, diffed and committed in batches of at most
        `read_batch` reads, in the diff's order, so no poll holds every job's log at once;
        the provider's health is committed with the last batch."""
        provider = self.config.provider(name)
        now = self.clock()
        bound = log.bind(provider=name)
        view = _rewound(self.store.load_provider(name), now, bound)
        first = not view.health.polled_once
        baseline = first and self.config.monitor.first_run is FirstRun.BASELINE
        quiet_before = routing.quiet_before(provider.watch, view.health)
        deadline = time.monotonic() + self.deadline
        try:
            listing = await bounded_fetch(
                name,
                lambda: self._fetch(
                    provider,
                    view,
                    now,
                    first=first,
                    baseline=baseline,
                    focus=focus,
                    narrow=narrow and not first,
                    quiet_before=quiet_before,
                ),
                self.deadline,
            )
        except ProviderError as exc:
            return self._commit_failure(name, view.health, exc, now, bound)
        known = {**view.states, **listing.revived}
        batches = plan.batches(listing.planned, lambda job: job.reads.any, self.read_batch)
        tally, enqueued, seen = Tally(), list[Alert](), list[api_changes.Sighting]()
        troubles: list[Trouble] = []
        for index, batch in enumerate(batches):
            try:
                fetched = await bounded_fetch(
                    name,
                    partial(self._read_batch, self.clients[name], batch, known),
                    max(deadline - time.monotonic(), 0.0),
                )
            except ProviderError as exc:  # the batches before this one stand, committed
                return self._commit_failure(name, view.health, exc, now, bound)
            final = listing if index == len(batches) - 1 else None
            enqueued += self._commit_batch(
                provider, view, known, fetched, final, now, tally,
                baseline=baseline, quiet_before=quiet_before, seen=seen, troubles=troubles,
            )  # fmt: skip
        enqueued += cost_alerts(self.store, self.config.cost, now)
        open_after = plan.open_jobs(_watched_states(provider, known.values()))
        bound.info("poll_completed", **asdict(tally), alerts=len(enqueued), baseline=baseline)
        return PollOutcome(
            provider=name,
            ok=True,
            jobs_seen=tally.jobs,
            enqueued=enqueued,
            running=any(s.status is Status.RUNNING for s in open_after),
            waiting=any(s.status.waiting for s in open_after),
        )

    def record_crash(self, name: str, exc: Exception) -> PollOutcome:
        """A poll that crashed (a bug, not an answer) is a failed poll all the same: it
        counts toward `monitor.provider_down`, so a provider that always crashes ftmon is
        reported down instead of silently never polled. Raises StoreError if even that
        cannot be recorded."""
        error = ProviderUnavailable(name, f"internal error while polling ({type(exc).__name__})")
        health = self.store.load_provider(name).health
        return self._commit_failure(name, health, error, self.clock(), log.bind(provider=name))

    def _commit_batch(
        self,
        provider: ProviderConfig,
        view: ProviderView,
        known: dict[str, JobState],
        fetched: Fetched,
        final: Fetched | None,
        now: datetime,
        tally: Tally,
        *,
        baseline: bool,
        quiet_before: datetime | None,
        seen: list[api_changes.Sighting],
        troubles: list[Trouble],
    ) -> list[Alert]:
        """Diff one batch against `known` and commit it; `final` (the listing, with the
        batch that ends the poll) adds the vanished jobs and the provider's new health,
        with what the poll's batches (`seen`) found new in the API (`api_changes`) and the
        provider-side trouble they saw (`troubles`, for `incidents`).
        `known` then holds the committed states of the jobs that can still change."""
        name, thresholds = provider.name, self.config.thresholds
        states, alerts, unreadable = diff_isolated(
            name, known, fetched.polled, now, thresholds, self._diff_failures,
            baseline=baseline, quiet_before=quiet_before,
        )  # fmt: skip
        health = view.health
        seen += api_changes.sightings((j.snapshot, j.events) for j in fetched.polled)
        troubles += incidents.evidence(alerts, (), fetched.api_failed, now)
        if final is not None:
            for job_id in final.vanished:
                gone, gone_alerts = diff.vanished(known[job_id], now, thresholds)
                states.append(gone)
                alerts += gone_alerts
            health, health_alerts = provider_poll.poll_succeeded(health, name, now, thresholds)
            health = replace(health, watch=routing.watch_mark(provider.watch))
            health, api_alerts = api_changes.first_sightings(health, name, seen, now, provider.kind)
            stalled = _stalled({**known, **{s.job_id: s for s in states}}.values())
            troubles += incidents.evidence((), stalled, final.api_failed, now)
            health, incident_alerts = incidents.step(
                health, name, troubles, now, self.config.incidents, thresholds.repeat
            )
            alerts = [*health_alerts, *api_alerts, *incident_alerts, *alerts]
            tally.skipped += final.skipped
        changed = _settle(known, states, fetched, now)
        enqueued = self.store.commit_poll(name, changed, health, [redacted(a) for a in alerts], now)
        for state in changed:
            if plan.settled(state) is None:
                known[state.job_id] = state
            else:  # the store keeps its index entry; this poll needs it no more
                known.pop(state.job_id, None)
        self._log_unknown(name, fetched.polled, log.bind(provider=name))
        tally.add(fetched, len(changed), unreadable)
        return enqueued

    def _commit_failure(
        self, name: str, health: ProviderHealth, exc: ProviderError, now: datetime, bound: Logger
    ) -> PollOutcome:
        auth = isinstance(exc, ProviderAuthError)
        error = REDACTOR(str(exc))
        health, alerts = provider_poll.poll_failed(
            health, name, now, self.config.thresholds, auth=auth, message=error
        )
        enqueued = self.store.commit_poll(name, [], health, [redacted(a) for a in alerts], now)
        bound.warning(
            "poll_failed", error=error, error_type=type(exc).__name__, request_id=exc.request_id
        )
        return PollOutcome(
            provider=name,
            ok=False,
            error=error,
            enqueued=enqueued,
            retry_after=getattr(exc, "retry_after", None),
        )

    # -- fetching ----------------------------------------------------------------------

    async def _fetch(
        self,
        provider: ProviderConfig,
        view: ProviderView,
        now: datetime,
        *,
        first: bool,
        baseline: bool,
        focus: frozenset[str] = frozenset(),
        narrow: bool = False,
        quiet_before: datetime | None = None,
    ) -> Fetched:
        """Every job worth a look, with the reads it needs (`planned`, in the diff's order),
        and tracked jobs now gone.

        Only watched jobs are worth a look: the watch filter applies to the list, so a job
        it does not take costs nothing after the list (and a tracked job it no longer
        takes is left as it is, neither read nor retrieved)."""
        client = self.clients[provider.name]
        fetched = Fetched()
        everything, settled = view.states, view.settled
        if not provider.watch.empty:  # the filter matches on the whole state
            fetched.revived = self.store.load_jobs(provider.name, settled)
            everything, settled = {**everything, **fetched.revived}, {}
        states = {s.job_id: s for s in _watched_states(provider, everything.values())}
        deep = first or any(job not in states and job not in settled for job in provider.jobs)
        since = plan.list_bound(
            states, now, provider.lookback, first=deep, finished=settled.values()
        )
        if not client.traits.list_pages:  # one request whatever the bound
            since = min(since, now - provider.lookback)
        links = {s.restart.successor for s in states.values() if s.restart.successor}
        followed = frozenset(provider.jobs) | links
        open_ids = {s.job_id for s in plan.open_jobs(states.values())}
        tracked = everything.keys() | settled.keys() if focus else set()
        listed: dict[str, JobSnapshot] = {}
        if narrow:  # a webhook's nudge: only the jobs it named, each retrieved
            watched = states.keys() | settled.keys()
            retrieve = plan.nudged_jobs(focus, watched, tracked, provider.jobs, followed)
        else:
            bound = since - JUST_BEFORE
            listed = {
                s.id: s for s in await _retrying(lambda: client.list_jobs(created_after=bound))
            }
            retrieve = sorted(open_ids - listed.keys())
            retrieve += plan.nudged_unknown(focus, tracked, listed, provider.jobs, followed)
        async with anyio.create_task_group() as tg:
            for job_id in retrieve:
                tg.start_soon(self._retrieve, client, job_id, listed, fetched, job_id in open_ids)
        looked = [
            s
            for s in listed.values()
            if plan.worth_a_look(
                s,
                everything.get(s.id) or settled.get(s.id),
                follow=bool(provider.jobs),
                followed=followed,
                forgotten_before=view.pruned_before,
            )
        ]
        changed_again = [s.id for s in looked if s.id in settled]
        if changed_again:  # settled jobs the provider changed: their whole state, now
            fetched.revived = self.store.load_jobs(provider.name, changed_again)
            everything = {**everything, **fetched.revived}
        wanted = [
            s for s in looked if routing.watched(provider.watch, s, everything.get(s.id), followed)
        ]
        thresholds = self.config.thresholds
        for snapshot in sorted(wanted, key=lambda s: (s.created_at, s.id)):  # the diff's order
            state = everything.get(snapshot.id)
            silent = provider_poll.first_sight_silent(snapshot, baseline, quiet_before)
            reads = job_reads(snapshot, state, now, thresholds, baseline=silent)
            fetched.planned.append(Planned(snapshot, reads))
        return fetched

    async def _read_batch(
        self, client: ProviderClient, batch: Sequence[Planned], known: Mapping[str, JobState]
    ) -> Fetched:
        """One batch's reads, made concurrently (the pacer keeps the provider's limits)."""
        fetched = Fetched()
        async with anyio.create_task_group() as tg:
            for job in batch:
                state = known.get(job.snapshot.id)
                if job.reads.any:
                    tg.start_soon(self._read_job, client, job.snapshot, state, job.reads, fetched)
                else:
                    fetched.add(job.snapshot, job.snapshot.events)
        return fetched

    async def _retrieve(
        self,
        client: ProviderClient,
        job_id: str,
        listed: dict[str, JobSnapshot],
        out: Fetched,
        tracked: bool = True,
    ) -> None:
        """A job the list does not show; a tracked one that answers 404 has vanished (a
        nudged unknown one that does is only logged)."""
        try:
            listed[job_id] = await _retrying(lambda: client.retrieve(job_id))
        except ProviderNotFound as exc:
            if tracked:
                out.vanished.append(job_id)
            else:
                _job_failed(client.name, job_id, exc)
        except Exception as exc:  # a ProviderError, or a crash reading this one job
            out.skipped += 1
            _api_failed(out, job_id, exc)
            _job_failed(client.name, job_id, exc)

    async def _read_job(
        self,
        client: ProviderClient,
        snapshot: JobSnapshot,
        state: JobState | None,
        reads: Reads,
        out: Fetched,
    ) -> None:
        """The job in full, its new log lines and loss readings, as this poll wants them.

        A log that cannot be read leaves the job as it was; a retrieve or metrics that
        cannot be read are optional: the listed status and the log still count.
        """
        read_log = reads.log
        if reads.retrieve:
            full = await self._retrieve_listed(client, snapshot, out)
            if full is not None:
                snapshot = full
                read_log = read_log and not client.traits.retrieve_has_log
        events: Sequence[JobEvent] = snapshot.events
        if read_log:
            after = state.log.last_key if state and client.traits.events_cursor else None
            try:
                events = await _retrying(lambda: client.events(snapshot.id, after_key=after))
            except Exception as exc:  # a ProviderError, or a crash reading this one log
                out.skipped += 1
                _api_failed(out, snapshot.id, exc)
                _job_failed(client.name, snapshot.id, exc)
                return
        losses: list[LossPoint] = []
        if reads.losses:
            read_to = state.loss.checked_step if state is not None else None
            try:
                losses = await _retrying(lambda: client.losses(snapshot.id, after_step=read_to))
                out.losses_read.add(snapshot.id)
            except ProviderNotFound:
                out.losses_missing.add(snapshot.id)  # no metrics for this job: back off
            except Exception as exc:  # a ProviderError, or a crash reading the metrics
                _job_failed(client.name, snapshot.id, exc, what="metrics")
        out.add(snapshot, events, losses, log_read=read_log)

    async def _retrieve_listed(
        self, client: ProviderClient, listed: JobSnapshot, out: Fetched
    ) -> JobSnapshot | None:
        """A listed job in full, for what the list lacks; None when it cannot be read."""
        try:
            full = await _retrying(lambda: client.retrieve(listed.id))
        except Exception as exc:  # a ProviderError, or a crash reading this one job
            _job_failed(client.name, listed.id, exc, what="retrieve")
            return None
        out.progress_read.add(listed.id)
        return full.filled_from(listed)

    def _log_unknown(self, name: str, polled: list[PolledJob], bound: Logger) -> None:
        for job in polled:
            raw = job.snapshot.raw_status
            if job.snapshot.status is Status.UNKNOWN and (name, raw) not in self._unknown_logged:
                self._unknown_logged.add((name, raw))
                bound.warning("unknown_status", job=job.snapshot.id, raw_status=raw)


def _watched_states(provider: ProviderConfig, states: Iterable[JobState]) -> list[JobState]:
    """The tracked jobs the provider's watch filter still takes (or `jobs` names)."""
    return [s for s in states if routing.watches_state(provider.watch, provider.jobs, s)]


def _stalled(states: Iterable[JobState]) -> list[str]:
    """The jobs whose queue stall is open: evidence of an incident each poll (`incidents`)."""
    return [s.job_id for s in states if incidents.QUEUE_STALL in s.conditions]


def _api_failed(out: Fetched, job_id: str, exc: Exception) -> None:
    """A read the provider failed to answer (5xx, timeout; not our rate limit)."""
    if isinstance(exc, ProviderUnavailable) and exc.status_code != 429:
        out.api_failed.add(job_id)


def _rewound(view: ProviderView, now: datetime, bound: Logger) -> ProviderView:
    """The view with no time of ftmon's own in the future (`rewind`): the clock went back
    since it was stored. Warned about; condition clocks restart from now."""
    health = rewind.health_at(view.health, now)
    states = {job: rewind.state_at(s, now) for job, s in view.states.items()}
    moved = [job for job, s in states.items() if s is not view.states[job]]
    if health is view.health and not moved:
        return view
    bound.warning("clock_went_back", health=health is not view.health, jobs=len(moved))
    return replace(view, health=health, states=states)


def _settle(
    before: Mapping[str, JobState], states: list[JobState], fetched: Fetched, now: datetime
) -> list[JobState]:
    """The states to write: bookkeeping added, finished jobs as tombstones, no-ops dropped."""
    polled = {job.snapshot.id: job for job in fetched.polled}
    out = []
    for state in states:
        job = polled.get(state.job_id)
        if job is not None:
            state = _marked(state, snapshot=plan.snapshot_mark(job.snapshot))
        if job is not None and state.job_id in fetched.logs_read:
            spacing = plan.event_spacing(before.get(state.job_id), job.events)
            state = _marked(state, log_read_at=now, log_spacing=spacing)
        if state.job_id in fetched.losses_read:
            state = _marked(state, losses_read_at=now, losses_missing=0, losses_retry_at=None)
        if state.job_id in fetched.losses_missing:
            state = _metrics_missing(state, now)
        if state.job_id in fetched.progress_read:
            state = _marked(state, progress_read_at=now)
        state = plan.tombstone(state)
        if not plan.unchanged(before.get(state.job_id), state):
            out.append(state)
    return out


def _metrics_missing(state: JobState, now: datetime) -> JobState:
    """A metrics read answered 404: back off for this job, and say so once."""
    if state.marks.losses_missing == 0:
        log.info("metrics_unavailable", provider=state.provider, job=state.job_id)
    retry_at = now + plan.loss_backoff(state.marks.losses_missing)
    return _marked(state, losses_missing=state.marks.losses_missing + 1, losses_retry_at=retry_at)


def _marked(state: JobState, **marks: Any) -> JobState:
    return replace(state, marks=replace(state.marks, **marks))


async def _retrying(fetch: Callable[[], Awaitable[T]]) -> T:
    """`fetch()`, again after a rate limit's pause (the pacer holds the retry back)."""
    attempt = 0
    while True:
        try:
            return await fetch()
        except ProviderUnavailable as exc:
            wait = exc.retry_after or 0.0
            if exc.status_code != 429 or attempt >= RATE_LIMIT_RETRIES or wait > MAX_RATE_WAIT:
                raise
            attempt += 1
            log.info("rate_limited", provider=exc.provider, retry_after=wait, attempt=attempt)


def _job_failed(provider: str, job_id: str, exc: Exception, what: str = "job") -> None:
    """One job's read failed: logged, the job left as it was. An unexpected exception is
    logged with its traceback (a bug to fix), a ProviderError with its message only."""
    if not isinstance(exc, ProviderError):
        log.error("job_read_crashed", provider=provider, job=job_id, read=what, exc_info=exc)
        return
    log.warning(
        "job_read_failed",
        provider=provider,
        job=job_id,
        read=what,
        error=str(exc),
        error_type=type(exc).__name__,
        request_id=exc.request_id,
    )
