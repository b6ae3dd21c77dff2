"""When things run: the one module that imports APScheduler (3.x, untyped).

One interval job per provider, with jitter so several ftmon instances (or providers)
don't poll in lockstep, `coalesce` so a late loop runs a missed poll once instead of in a
burst, `max_instances=1` so a slow poll is never overlapped by the next one, and a
misfire grace so a briefly blocked loop still runs the poll. `stop` lets a poll in
flight finish (within a grace) before anything it uses is closed. Intervals change as the
cadence policy decides; a provider asking to be left alone (429 Retry-After) is
delayed instead of failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

Job = Callable[[], Awaitable[None]]
RESYNC_SLACK = 600.0  # seconds: a Retry-After delay (at most 5 min) is not a clock jump


class PollScheduler:
    """Typed wrapper over AsyncIOScheduler; must be started inside a running asyncio loop."""

    def __init__(self, *, misfire_grace: float = 30.0) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._intervals: dict[str, float] = {}
        self._misfire_grace = misfire_grace
        self._running: set[asyncio.Task[None]] = set()

    def add(
        self,
        name: str,
        job: Job,
        interval: float,
        *,
        jitter: float = 0.0,
        first_run: datetime | None = None,
    ) -> None:
        self._intervals[name] = interval

        async def run() -> None:  # a coroutine function, so APScheduler awaits it on the loop
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await job()
            except asyncio.CancelledError:
                return  # stopped (see `stop`): a cancelled poll records nothing, no error
            finally:
                if task is not None:
                    self._running.discard(task)

        self._scheduler.add_job(
            run,
            trigger=IntervalTrigger(seconds=interval, jitter=jitter or None),
            id=name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(self._misfire_grace),
            next_run_time=first_run or datetime.now(UTC),
        )

    def set_interval(self, name: str, interval: float, *, jitter: float = 0.0) -> None:
        """Change a job's cadence; the next run moves to one new interval from now."""
        if self._intervals.get(name) == interval:
            return
        self._intervals[name] = interval
        self._scheduler.reschedule_job(
            name, trigger=IntervalTrigger(seconds=interval, jitter=jitter or None)
        )

    def delay(self, name: str, seconds: float) -> None:
        """Run a job no sooner than `seconds` from now (a provider's Retry-After)."""
        when = datetime.now(UTC) + timedelta(seconds=seconds)
        job = self._scheduler.get_job(name)
        if job is not None and (job.next_run_time is None or job.next_run_time < when):
            job.modify(next_run_time=when)

    def resync(self) -> list[str]:
        """After the wall clock went back: every job planned further ahead than its own
        interval (or the longest Retry-After pause) was planned by the old clock and would
        wait out the jump; it runs now. Returns the jobs moved."""
        now = datetime.now(UTC)
        moved = []
        for name, interval in self._intervals.items():
            job = self._scheduler.get_job(name)
            limit = now + timedelta(seconds=max(interval, RESYNC_SLACK))
            if job is not None and job.next_run_time is not None and job.next_run_time > limit:
                job.modify(next_run_time=now)
                moved.append(name)
        return moved

    def interval(self, name: str) -> float | None:
        return self._intervals.get(name)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def stop(self, grace: float) -> None:
        """Start no more jobs; give those running `grace` seconds to finish, then cancel
        them (quietly), so nothing they use is closed under them. (APScheduler's own
        shutdown cancels them at once, so it comes last.)"""
        if self._scheduler.running:
            self._scheduler.pause()
        running = [t for t in self._running if not t.done()]
        if running:
            _done, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        self.shutdown()
