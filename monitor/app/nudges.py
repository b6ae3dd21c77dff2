"""Nudges: "look at this job now", from a verified webhook to the provider's poller.

The seam between receiving a webhook and acting on it. A nudge carries no fact: it only
asks the poller to run an ordinary poll of the provider now, with the nudged job ids read
even when the job list does not show them (an unknown job is fetched and then tracked).
So a webhook can never raise an alert the API does not show, and a duplicate or late one
raises nothing twice: the poll's diff decides, as always.

`LocalNudges` serves one process: the receiver and the poller share it. `Relay` is what
the receiver holds: it hands a nudge to `LocalNudges` (SQLite, one process), or, while a
generation on a shared PostgreSQL state relays (`shared_nudges`), queues it to be
recorded in the database, whence the provider's leader (this replica or another) takes it
into its own `LocalNudges`; the receiver and the poll loop do not change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

MAX_PENDING = 1000  # job ids held per provider until its poller takes them

Wake = Callable[[], None]


class Nudges(Protocol):
    """What the webhook receiver needs: record a nudge for `provider`'s job."""

    def nudge(self, provider: str, job_id: str) -> None: ...


class LocalNudges:
    """Nudges for the pollers of this process; each provider's poller `listen`s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._pending: dict[str, dict[str, None]] = {}
        self._wake: dict[str, Wake] = {}
        self._last: dict[str, float] = {}
        self._clock = clock

    def nudge(self, provider: str, job_id: str) -> None:
        pending = self._pending.setdefault(provider, {})
        pending[job_id] = None
        while len(pending) > MAX_PENDING:  # the poll reads the list anyway
            del pending[next(iter(pending))]
        self._last[provider] = self._clock()
        wake = self._wake.get(provider)
        if wake is not None:
            wake()

    def listen(self, provider: str, wake: Wake) -> None:
        """`wake()` is called on every nudge for `provider` (the last listener wins)."""
        self._wake[provider] = wake

    def forget_listeners(self) -> None:
        """A config generation ended: nudges wait for the next one's listeners."""
        self._wake.clear()

    def pending(self, provider: str) -> bool:
        return bool(self._pending.get(provider))

    def take(self, provider: str) -> frozenset[str]:
        """The job ids nudged since the last take, cleared."""
        return frozenset(self._pending.pop(provider, {}))

    def seconds_since_last(self, provider: str) -> float | None:
        """How long ago `provider`'s last nudge came (None: never in this process)."""
        last = self._last.get(provider)
        return None if last is None else self._clock() - last


class Relay:
    """The receiver's `Nudges`: local, or queued for the database while a relay runs."""

    def __init__(self, local: LocalNudges) -> None:
        self.local = local
        self._out: dict[tuple[str, str], None] = {}
        self._wake: Wake | None = None

    def nudge(self, provider: str, job_id: str) -> None:
        if self._wake is None:
            self.local.nudge(provider, job_id)
            return
        self._out[(provider, job_id)] = None
        while len(self._out) > MAX_PENDING:  # the database is slow or lost: polls read on
            del self._out[next(iter(self._out))]
        self._wake()

    def relay(self, wake: Wake | None) -> None:
        """Queue nudges and call `wake()` (None: stop; what is queued goes local)."""
        self._wake = wake
        if wake is None:
            for provider, job_id in self.take_outgoing():
                self.local.nudge(provider, job_id)

    def take_outgoing(self) -> list[tuple[str, str]]:
        out, self._out = list(self._out), {}
        return out
