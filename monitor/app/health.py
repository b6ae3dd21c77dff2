"""What the daemon tells the probes: liveness (`/healthz`) and readiness (`/readyz`).

/healthz  ok while the last successful cycle is younger than `max_age`
          (3 x poll_interval + 60s by default; before the first success, during a
          start grace of the same length) and every provider has completed a poll
          (succeeded or failed, not crashed) within `max_age`, else a one-line reason
          naming what is late: a provider whose poll hangs or crashes every time is
          not hidden behind another that is fine
/readyz   ok once the store is open and a first cycle completed; not while stopping, nor
          while a shared (PostgreSQL) state database is lost
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
        self._completed: dict[str, datetime] = {}  # provider -> its last completed poll
        self._failed_since_success = self._cycles = 0
        self._ready = self._stopping = False
        self._store_lost: str | None = None

    @classmethod
    def for_interval(cls, poll_interval: timedelta, *, clock: Clock = _UTC_NOW) -> HealthState:
        return cls(max_age=3 * poll_interval + timedelta(seconds=60), clock=clock)

    def expect(self, providers: Iterable[str]) -> None:
        """The providers of the running config: each must complete a poll within
        `max_age` from now on (a reload starts their clocks again)."""
        now = self._clock()
        self._completed = {name: self._completed.get(name, now) for name in providers}

    def mark_cycle(
        self, now: datetime, ok: bool, *, provider: str | None = None, completed: bool = True
    ) -> None:
        """A poll finished at `now`; `ok` if it succeeded (the daemon's unit of success).
        `completed` is false for a poll that crashed (it told nothing about the provider)."""
        if provider is not None and completed:
            self._completed[provider] = now
        self._cycles += 1
        self._last_success = now if ok else self._last_success
        self._failed_since_success = 0 if ok else self._failed_since_success + 1

    def mark_standby(self, followed: Iterable[str], *, idle: bool) -> None:
        """A lease round on a shared state: the providers another replica polls count as
        completed now (their leader answers for them), and a replica that leads nothing
        (`idle`) is as alive as its last round."""
        now = self._clock()
        for provider in followed:
            self._completed[provider] = now
        if idle:
            self.mark_cycle(now, ok=True)

    def mark_store(self, lost: str | None) -> None:
        """The state database is lost (`lost` says why) or back (None): /readyz follows."""
        self._store_lost = lost

    def mark_ready(self) -> None:
        """The store is open: /readyz turns 200 once a first cycle has completed too."""
        self._ready = True

    def mark_stopping(self) -> None:
        """Shutting down (draining the outbox): /readyz answers 503 from now on."""
        self._stopping = True

    def liveness(self) -> Verdict:
        since, bound = self._last_success or self._started, self.max_age.total_seconds()
        now = self._clock()
        age = (now - since).total_seconds()
        late = sorted(p for p, at in self._completed.items() if (now - at).total_seconds() > bound)
        if age <= bound and late:
            return Verdict(False, f"no poll of {', '.join(late)} completed in {bound:.0f}s")
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
        if self._store_lost is not None:
            return Verdict(False, f"state database lost: {self._store_lost}")
        if self._cycles == 0:
            return Verdict(False, "first poll cycle not completed yet")
        return Verdict(True, "ok")
