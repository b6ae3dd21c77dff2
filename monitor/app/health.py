"""What the daemon tells the probes: liveness (`/healthz`) and readiness (`/readyz`).

/healthz  ok while the last successful cycle is younger than `max_age`
          (3 x poll_interval + 60s by default; before the first success, during a
          start grace of the same length), else a one-line reason
/readyz   ok once the store is open and a first cycle completed; not while stopping
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

Clock = Callable[[], datetime]
_UTC_NOW: Clock = partial(datetime.now, UTC)  # tests inject the daemon's own clock


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str


class HealthState:
    """What the daemon tells the endpoints; `max_age` may change on reload."""

    def __init__(self, *, max_age: timedelta, clock: Clock = _UTC_NOW) -> None:
        self.max_age = max_age
        self._clock, self._started = clock, clock()
        self._last_success: datetime | None = None
        self._failed_since_success = self._cycles = 0
        self._ready = self._stopping = False

    @classmethod
    def for_interval(cls, poll_interval: timedelta, *, clock: Clock = _UTC_NOW) -> HealthState:
        return cls(max_age=3 * poll_interval + timedelta(seconds=60), clock=clock)

    def mark_cycle(self, now: datetime, ok: bool) -> None:
        """A poll finished at `now`; `ok` if it succeeded (the daemon's unit of success)."""
        self._cycles += 1
        self._last_success = now if ok else self._last_success
        self._failed_since_success = 0 if ok else self._failed_since_success + 1

    def mark_ready(self) -> None:
        """The store is open: /readyz turns 200 once a first cycle has completed too."""
        self._ready = True

    def mark_stopping(self) -> None:
        """Shutting down (draining the outbox): /readyz answers 503 from now on."""
        self._stopping = True

    def liveness(self) -> Verdict:
        since, bound = self._last_success or self._started, self.max_age.total_seconds()
        age = (self._clock() - since).total_seconds()
        if age <= bound:
            return Verdict(True, "ok")
        what = "last successful cycle" if self._last_success else "no successful cycle; started"
        failed = self._failed_since_success
        return Verdict(False, f"{what} {age:.0f}s ago (max {bound:.0f}s); {failed} failed since")

    def readiness(self) -> Verdict:
        if self._stopping:
            return Verdict(False, "stopping")
        if not self._ready:
            return Verdict(False, "state store not open yet")
        if self._cycles == 0:
            return Verdict(False, "first poll cycle not completed yet")
        return Verdict(True, "ok")
