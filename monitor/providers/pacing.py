"""How fast one provider may be asked: a concurrency limit that gives way under pressure.

Every request to a provider passes `Pacer.slot()`, which admits at most `limit` requests
at once and starts them no closer together than `spacing` seconds. `observe` reads each
answer and adjusts both:

    429 (rate limited)               limit halves (at least 1); nothing starts before the
                                     Retry-After (else the reset header, else 1 s) is over
    x-ratelimit-remaining = 0        nothing starts before the reset
    remaining < LOW_WATER × ceiling  the rest is spread evenly over the reset window
                                     (spacing = reset / remaining) and limit ≤ remaining
    any other answer                 spacing 0; limit creeps back up by one per `limit`
                                     answers, to the ceiling it started at

No pause or spacing is ever longer than `MAX_PAUSE` (five minutes), whatever a header
says: a `Retry-After` of a year or an `x-ratelimit-reset` of a day would otherwise stop
the provider (and hang `run --once`) for as long. A provider that keeps asking for more
keeps failing its polls instead, which counts toward `monitor.provider_down`.

So a provider that says "slow down" is slowed down smoothly instead of failed; the poll
service retries a rate-limited request, and its retry waits here for the pause to end.
Headers read: `x-ratelimit-remaining-requests` / `x-ratelimit-reset-requests` (OpenAI,
the reset as a duration like `6m0s`) and `x-ratelimit-remaining` / `x-ratelimit-reset`
(Together, the reset in seconds).
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping

import anyio

DEFAULT_LIMIT = 8
LOW_WATER = 2  # fewer requests left than two rounds at the ceiling: start spacing them
DEFAULT_PAUSE = 1.0  # seconds, when a provider says stop but not for how long
MAX_PAUSE = 300.0  # seconds: the longest any header may hold requests back
EPOCH_CUTOFF = 1_000_000_000.0  # a reset this large is a unix time, not an interval

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str | None) -> float | None:
    """Seconds from `2`, `0.5`, `20ms`, `1s` or `6m0s`; None when unreadable."""
    if text is None:
        return None
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            return None
        value = sum(float(n) * _UNIT[u] for n, u in parts)
    return value if math.isfinite(value) and value >= 0 else None


def budget(headers: Mapping[str, str], wall: float) -> tuple[int | None, float | None]:
    """(requests left in the window, seconds until it resets) from rate-limit headers."""
    raw = headers.get("x-ratelimit-remaining-requests") or headers.get("x-ratelimit-remaining")
    remaining: int | None = None
    if raw is not None:
        try:
            remaining = max(0, int(float(raw)))
        except ValueError:
            remaining = None
    reset = parse_duration(
        headers.get("x-ratelimit-reset-requests") or headers.get("x-ratelimit-reset")
    )
    if reset is not None and reset >= EPOCH_CUTOFF:
        reset = max(0.0, reset - wall)
    return remaining, reset


class Pacer:
    """One provider's admission control; create one per provider client."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.ceiling = max(1, limit)
        self.limit = self.ceiling
        self.spacing = 0.0
        self.throttled = 0  # 429s seen, for logs and tests
        self.resume_at = 0.0  # on `clock`: nothing starts before this
        self._next_start = 0.0
        self._credit = 0
        self._clock = clock
        self._wall = wall
        self._places = Places(self.limit)
        self._slot = _Slot(self)

    def slot(self) -> _Slot:
        """`async with pacer.slot()`: hold one of `limit` places, started no sooner than
        the pause and spacing allow."""
        return self._slot

    async def acquire(self) -> None:
        """Take a place and wait out the pause and spacing (what `slot` enters)."""
        await self._places.acquire()
        try:
            now = self._clock()
            start = max(now, self.resume_at, self._next_start)
            self._next_start = start + self.spacing
            while start > now:
                await anyio.sleep(start - now)
                now = self._clock()
                start = max(start, self.resume_at)  # a 429 answered meanwhile holds us too
        except BaseException:
            self._places.release()
            raise

    def release(self) -> None:
        self._places.release()

    def delay(self) -> float:
        """Seconds until the next request may start (0 when it may start now)."""
        return max(0.0, self.resume_at - self._clock())

    def observe(
        self, status: int | None, headers: Mapping[str, str], *, wait: float | None = None
    ) -> None:
        """Adjust to one answer; `wait` is the 429's Retry-After, when it gave one."""
        if status is None:
            return  # no answer (timeout, refused): says nothing about the rate limit
        now = self._clock()
        remaining, reset = budget(headers, self._wall())
        if status == 429:
            self.throttled += 1
            self._set_limit(self.limit // 2)
            pause = wait if wait is not None else (reset if reset is not None else DEFAULT_PAUSE)
            self.resume_at = max(self.resume_at, now + min(pause, MAX_PAUSE))
            return
        if remaining is None:
            self.spacing = 0.0
            self._creep()
        elif remaining == 0:
            self.resume_at = max(self.resume_at, now + min(reset or DEFAULT_PAUSE, MAX_PAUSE))
        elif remaining < LOW_WATER * self.ceiling:
            self.spacing = min((reset or DEFAULT_PAUSE) / remaining, MAX_PAUSE)
            self._set_limit(min(self.limit, remaining))
        else:
            self.spacing = 0.0
            self._creep()

    def _creep(self) -> None:
        if self.limit >= self.ceiling:
            return
        self._credit += 1
        if self._credit >= self.limit:
            self._credit = 0
            self._set_limit(self.limit + 1)

    def _set_limit(self, limit: int) -> None:
        self.limit = max(1, min(self.ceiling, limit))
        self._places.resize(self.limit)


class _Slot:
    """`Pacer.slot()`, one object per pacer: it keeps no state of its own, so each request
    enters the same one (no generator-based context manager made per request)."""

    __slots__ = ("_pacer",)

    def __init__(self, pacer: Pacer) -> None:
        self._pacer = pacer

    async def __aenter__(self) -> None:
        await self._pacer.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._pacer.release()


class Places:
    """At most `total` holders at once, the others served first come, first served.

    anyio's `CapacityLimiter` does the same, but each acquire also yields to the event
    loop inside a shielded cancel scope and tracks its borrower: 21 µs against 1 µs
    here, for each of ~600 requests a cycle. A place is taken without waiting while one
    is free and nobody queues; a waiter cancelled after it was handed a place passes it on.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.held = 0
        self._waiting: deque[anyio.Event] = deque()

    async def acquire(self) -> None:
        if self.held < self.total and not self._waiting:
            self.held += 1
            return
        turn = anyio.Event()
        self._waiting.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():
                self.release()
            else:
                self._waiting.remove(turn)
            raise

    def release(self) -> None:
        self.held -= 1
        self._wake()

    def resize(self, total: int) -> None:
        self.total = total
        self._wake()

    def _wake(self) -> None:
        while self._waiting and self.held < self.total:
            self.held += 1
            self._waiting.popleft().set()
