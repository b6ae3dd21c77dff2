"""The poll's reads, carried out (`poll_plan` decides them): a retrieve, a log, metrics.

Each read waits its turn at the provider's pacer; a rate-limited one is retried once the
provider's pause is over. One job's failed read is that job's: it is logged and the job
is left as it was (`Fetched.skipped`), never the poll's; a read the provider failed to
answer (5xx, a timeout) is evidence for `incidents`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import structlog

from monitor.core.errors import ProviderError, ProviderNotFound, ProviderUnavailable
from monitor.core.memory import JobState
from monitor.core.model import JobEvent, JobSnapshot, LossPoint
from monitor.core.poll_plan import JobPlan
from monitor.core.provider_poll import PolledJob
from monitor.core.reads import Reads
from monitor.providers.base import ProviderClient
from monitor.providers.pacing import DEFAULT_LIMIT

log = structlog.get_logger("ftmon.service")
T = TypeVar("T")

READERS = DEFAULT_LIMIT  # jobs read at once: as many as the pacer lets requests through
RATE_LIMIT_RETRIES = 4  # a rate-limited request is retried after the pause, this often
MAX_RATE_WAIT = 60.0  # seconds; a provider asking for longer fails the poll with retry_after


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
    planned: list[JobPlan] = field(default_factory=list)  # jobs to diff and their reads
    quiet: int = 0  # jobs looked at that need no diff this poll (`core.quiet`)
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


async def read_batch(
    client: ProviderClient, batch: Sequence[JobPlan], known: Mapping[str, JobState]
) -> Fetched:
    """One batch's reads, `READERS` jobs at a time (the pacer keeps the provider's limits).

    A task per reader, not per job: a task made per job, and its wait in the pacer's
    queue, cost about 65 µs of CPU per job for the same concurrency.
    """
    fetched = Fetched()
    to_read: list[JobPlan] = []
    for job in batch:
        if job.reads.any:
            to_read.append(job)
        else:
            fetched.add(job.snapshot, job.snapshot.events)
    jobs = iter(to_read)

    async def reader() -> None:
        for job in jobs:
            state = known.get(job.snapshot.id)
            await read_job(client, job.snapshot, state, job.reads, fetched)

    async with anyio.create_task_group() as tg:
        for _ in range(min(READERS, len(to_read))):
            tg.start_soon(reader)
    return fetched


async def retrieve(
    client: ProviderClient,
    job_id: str,
    listed: dict[str, JobSnapshot],
    out: Fetched,
    tracked: bool = True,
) -> None:
    """A job the list does not show; a tracked one that answers 404 has vanished (a
    nudged unknown one that does is only logged)."""
    try:
        listed[job_id] = await retrying(lambda: client.retrieve(job_id))
    except ProviderNotFound as exc:
        if tracked:
            out.vanished.append(job_id)
        else:
            job_failed(client.name, job_id, exc)
    except Exception as exc:  # a ProviderError, or a crash reading this one job
        out.skipped += 1
        api_failed(out, job_id, exc)
        job_failed(client.name, job_id, exc)


async def read_job(
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
        full = await retrieve_listed(client, snapshot, out)
        if full is not None:
            snapshot = full
            read_log = read_log and not client.traits.retrieve_has_log
    events: Sequence[JobEvent] = snapshot.events
    if read_log:
        after = state.log.last_key if state and client.traits.events_cursor else None
        try:
            events = await retrying(lambda: client.events(snapshot.id, after_key=after))
        except Exception as exc:  # a ProviderError, or a crash reading this one log
            out.skipped += 1
            api_failed(out, snapshot.id, exc)
            job_failed(client.name, snapshot.id, exc)
            return
    losses: list[LossPoint] = []
    if reads.losses:
        read_to = state.loss.checked_step if state is not None else None
        try:
            losses = await retrying(lambda: client.losses(snapshot.id, after_step=read_to))
            out.losses_read.add(snapshot.id)
        except ProviderNotFound:
            out.losses_missing.add(snapshot.id)  # no metrics for this job: back off
        except Exception as exc:  # a ProviderError, or a crash reading the metrics
            job_failed(client.name, snapshot.id, exc, what="metrics")
    out.add(snapshot, events, losses, log_read=read_log)


async def retrieve_listed(
    client: ProviderClient, listed: JobSnapshot, out: Fetched
) -> JobSnapshot | None:
    """A listed job in full, for what the list lacks; None when it cannot be read."""
    try:
        full = await retrying(lambda: client.retrieve(listed.id))
    except Exception as exc:  # a ProviderError, or a crash reading this one job
        job_failed(client.name, listed.id, exc, what="retrieve")
        return None
    out.progress_read.add(listed.id)
    return full.filled_from(listed)


def api_failed(out: Fetched, job_id: str, exc: Exception) -> None:
    """A read the provider failed to answer (5xx, timeout; not our rate limit)."""
    if isinstance(exc, ProviderUnavailable) and exc.status_code != 429:
        out.api_failed.add(job_id)


async def retrying(fetch: Callable[[], Awaitable[T]]) -> T:
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


def job_failed(provider: str, job_id: str, exc: Exception, what: str = "job") -> None:
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
