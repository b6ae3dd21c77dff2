"""One provider's poll as the daemon runs it: full polls on schedule, narrow ones on a nudge.

The scheduler runs the full poll at the provider's interval. A webhook's nudge (`wake`)
runs a narrow poll at once: only the nudged jobs, retrieved with their new log lines,
diffed and committed like any poll (`PollService.poll(narrow=True)`). A lock keeps the
two from running at once; nudges that arrive while one runs are read as soon as it is
done, so none waits for the next interval. After each poll: count, pace (`cadence`),
wake delivery, tell systemd.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

import anyio
import structlog

from monitor.app import heap
from monitor.app.wiring import Runtime
from monitor.core import cadence
from monitor.core.errors import FencedError, StoreError

if TYPE_CHECKING:
    from monitor.app.generation import Generation

log = structlog.get_logger("ftmon.daemon")

JITTER_FRACTION = 0.1


class PollJob:
    """One provider's polls; `wake` is its nudge listener."""

    def __init__(self, gen: Generation, runtime: Runtime, name: str) -> None:
        self.gen, self.runtime, self.name = gen, runtime, name
        self.lock = anyio.Lock()
        self.busy = False  # a poll runs or is about to: it reads the nudges when done

    def wake(self) -> None:
        if not self.busy and self.gen.tasks is not None:
            self.busy = True
            self.gen.tasks.start_soon(self._nudged)

    async def __call__(self) -> None:
        async with self.lock:
            self.busy = True
            try:
                if self.gen.shared_nudges is not None:  # a notification may have been lost
                    await self.gen.shared_nudges.pull(self.name)
                await self._poll(self.gen.nudges.take(self.name), narrow=False)
                await self._drain()
            finally:
                self.busy = False
                heap.give_back()  # the poll's lists and logs, freed: back to the system

    async def _nudged(self) -> None:
        async with self.lock:
            self.busy = True
            try:
                await self._drain()
            finally:
                self.busy = False

    async def _drain(self) -> None:
        while self.gen.nudges.pending(self.name):
            await self._poll(self.gen.nudges.take(self.name), narrow=True)

    def _record_crash(self, exc: Exception) -> None:
        """Count the crash toward provider_down (see `PollService.record_crash`)."""
        try:
            self.runtime.service.record_crash(self.name, exc)
        except Exception:  # the store too: logged, the next cycle tries again
            log.exception("poll_crash_not_recorded", provider=self.name)

    async def _poll(self, focus: frozenset[str], *, narrow: bool) -> None:
        gen = self.gen
        if not gen.leadership.leads(self.name):  # another replica polls it (or no database)
            return
        started = time.monotonic()
        try:
            outcome = await self.runtime.service.poll(self.name, focus, narrow=narrow)
        except Exception as exc:  # the boundary: a bug or a store error must not kill the loop
            if isinstance(exc, FencedError):  # another replica took the lease meanwhile
                gen.leadership.fenced(self.name)
                return
            if isinstance(exc, StoreError):  # locked, full or damaged: polled again next cycle
                log.error("poll_not_recorded", provider=self.name, error=str(exc))
            else:
                log.exception("poll_crashed", provider=self.name)
                self._record_crash(exc)
            gen.metrics.poll_done(self.name, False, time.monotonic() - started, gen.clock())
            gen.health.mark_cycle(gen.clock(), ok=False, provider=self.name, completed=False)
            gen.last_ok[self.name] = False
            return
        now: datetime = gen.clock()
        gen.metrics.poll_done(self.name, outcome.ok, time.monotonic() - started, now)
        gen.metrics.alerts_raised(outcome.enqueued)
        gen.health.mark_cycle(now, ok=outcome.ok, provider=self.name)
        gen.last_ok[self.name] = outcome.ok
        gen.doorbell.ring()
        base = gen.base_for(self.name)
        interval = cadence.next_interval(
            base, ok=outcome.ok, running=outcome.running, waiting=outcome.waiting
        )
        gen.scheduler.set_interval(self.name, interval, jitter=interval * JITTER_FRACTION)
        if outcome.retry_after:
            gen.scheduler.delay(self.name, outcome.retry_after)
        gen.notifier.status(
            f"{self.name}: {'ok' if outcome.ok else 'poll failed'} at "
            f"{now:%H:%M:%S}, {outcome.jobs_seen} jobs, "
            f"{len(outcome.enqueued)} new alerts"
        )
