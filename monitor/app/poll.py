"""One poll cycle of one provider: plan -> read -> diff -> commit.

The shell around the pure core. `poll_plan` decides each request a cycle needs (the job
list only as deep as the oldest unfinished job, a retrieve for a tracked job the list no
longer shows or for what the list lacks, a log only for a new or changed job or a running
one that is due, metrics every few minutes where the provider's traits say losses need a
request); `poll_reads` makes them concurrently at the provider's pacer; this module
sequences them, reading, diffing and committing in batches of at most `read_batch` reads
(one store transaction each: only the job states that changed, finished ones as
tombstones), so no poll holds every job's log at once.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import TypeVar

import anyio
import structlog

from monitor.app import poll_reads
from monitor.app.costs import cost_alerts
from monitor.app.poll_guard import (
    POLL_DEADLINE,
    DiffFailures,
    bounded_fetch,
    diff_isolated,
    redacted,
)
from monitor.app.poll_reads import Fetched
from monitor.core import (
    api_changes,
    diff,
    incidents,
    plan,
    poll_plan,
    provider_poll,
    rewind,
    routing,
)
from monitor.core.alerts import Alert
from monitor.core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
)
from monitor.core.memory import JobState, ProviderHealth, Trouble
from monitor.core.model import JobSnapshot, Status
from monitor.core.provider_poll import PolledJob
from monitor.core.quiet import diff_needed
from monitor.core.redact import REDACTOR
from monitor.core.settings import Config, FirstRun, ProviderConfig
from monitor.providers.base import ProviderClient
from monitor.storage.base import ProviderView, Store

log = structlog.get_logger("ftmon.service")
Logger = structlog.typing.FilteringBoundLogger
T = TypeVar("T")

Clock = Callable[[], datetime]
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
    quiet: int = 0  # open jobs not diffed: nothing new, nothing due (`core.quiet`)

    def add(self, fetched: Fetched, changed: int, unreadable: int) -> None:
        self.jobs += len(fetched.polled)
        self.logs_read += len(fetched.logs_read)
        self.changed += changed
        self.skipped += fetched.skipped
        self.unreadable += unreadable


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
        listing.planned = []  # the batches hold the jobs now, each only until it is committed
        tally, enqueued, seen = Tally(), list[Alert](), list[api_changes.Sighting]()
        troubles: list[Trouble] = []
        for index in range(len(batches)):
            batch, batches[index] = batches[index], []
            try:
                fetched = await bounded_fetch(
                    name,
                    partial(poll_reads.read_batch, self.clients[name], batch, known),
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
                health, name, troubles, now, self.config.incidents, thresholds.repeat,
                status_page=self.clients[name].traits.status_page,
            )  # fmt: skip
            alerts = [*health_alerts, *api_alerts, *incident_alerts, *alerts]
            tally.skipped += final.skipped
            tally.quiet, tally.jobs = final.quiet, tally.jobs + final.quiet
        changed = _settle(name, known, states, fetched, now)
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
        and tracked jobs now gone: `poll_plan`'s steps, each carried out here.

        Only watched jobs are worth a look: the watch filter applies to the list, so a job
        it does not take costs nothing after the list (and a tracked job it no longer
        takes is left as it is, neither read nor retrieved)."""
        client = self.clients[provider.name]
        fetched = Fetched()
        everything, settled = view.states, view.settled
        if not provider.watch.empty:  # the filter matches on the whole state
            fetched.revived = self.store.load_jobs(provider.name, settled)
            everything, settled = {**everything, **fetched.revived}, {}
        scope = poll_plan.scope(
            provider, everything, settled, now,
            first=first, list_pages=client.traits.list_pages, focus=focus, narrow=narrow,
        )  # fmt: skip
        listed: dict[str, JobSnapshot] = {}
        if scope.list_after is not None:
            after = scope.list_after
            keep = poll_plan.Keeper(scope, everything)
            jobs = await poll_reads.retrying(
                lambda: client.list_jobs(created_after=after, keep=keep)
            )
            listed = {s.id: s for s in jobs}
        async with anyio.create_task_group() as tg:
            for job_id in poll_plan.retrieves(scope, provider, listed, focus):
                tracked = job_id in scope.open_ids
                tg.start_soon(poll_reads.retrieve, client, job_id, listed, fetched, tracked)
        worth, revive = poll_plan.looked(
            scope, provider, listed.values(), everything, view.pruned_before
        )
        if revive:  # settled jobs the provider changed: their whole state, now
            fetched.revived = self.store.load_jobs(provider.name, revive)
            everything = {**everything, **fetched.revived}
        thresholds = self.config.thresholds
        plans = poll_plan.job_plans(
            scope, provider, worth, everything, now, thresholds,
            baseline=baseline, quiet_before=quiet_before,
        )  # fmt: skip
        fetched.planned = [
            p for p in plans
            if diff_needed(p.snapshot, everything.get(p.snapshot.id), p.reads, now, thresholds)
        ]  # fmt: skip
        fetched.quiet = len(plans) - len(fetched.planned)
        return fetched

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
    name: str,
    before: Mapping[str, JobState],
    states: list[JobState],
    fetched: Fetched,
    now: datetime,
) -> list[JobState]:
    """The states to write (`poll_plan.settle`); a job whose metrics first answer 404 is
    logged once."""
    for job_id in fetched.losses_missing:
        known = before.get(job_id)
        if known is None or known.marks.losses_missing == 0:
            log.info("metrics_unavailable", provider=name, job=job_id)
    done = poll_plan.ReadsDone(
        events={job.snapshot.id: job.events for job in fetched.polled},
        snapshots={job.snapshot.id: job.snapshot for job in fetched.polled},
        logs_read=frozenset(fetched.logs_read),
        losses_read=frozenset(fetched.losses_read),
        losses_missing=frozenset(fetched.losses_missing),
        progress_read=frozenset(fetched.progress_read),
    )
    return poll_plan.settle(before, states, done, now)
