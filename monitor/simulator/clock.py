"""Simulated time.

The simulator never reads the wall clock directly: every job's state is a pure function of
a clock's `now` and its script. `ManualClock` moves only when told (tests, e2e control);
`RealClock` follows the wall clock, optionally sped up (demo, benchmarks).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the simulator needs from a clock."""

    def timestamp(self) -> float:
        """Simulated now, as unix seconds."""
        ...

    def now(self) -> datetime:
        """Simulated now, as an aware UTC datetime."""
        ...


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_seconds(amount: float | timedelta) -> float:
    """Seconds from a number or a timedelta."""
    if isinstance(amount, timedelta):
        return amount.total_seconds()
    return float(amount)


class ManualClock:
    """A clock that moves only through `advance` (or `set`); never backwards."""

    def __init__(self, start: datetime) -> None:
        self._t = _as_utc(start).timestamp()
        self._lock = threading.Lock()

    def timestamp(self) -> float:
        with self._lock:
            return self._t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def advance(self, amount: float | timedelta) -> datetime:
        """Move forward by `amount` seconds (or a timedelta); returns the new now."""
        seconds = to_seconds(amount)
        if seconds < 0:
            raise ValueError("a ManualClock cannot go backwards")
        with self._lock:
            self._t += seconds
            return datetime.fromtimestamp(self._t, UTC)

    def set(self, when: datetime) -> datetime:
        """Jump forward to `when`."""
        target = _as_utc(when).timestamp()
        with self._lock:
            if target < self._t:
                raise ValueError("a ManualClock cannot go backwards")
            self._t = target
            return datetime.fromtimestamp(self._t, UTC)


class RealClock:
    """Simulated time = start + elapsed wall time x speed."""

    def __init__(self, speed: float = 1.0, *, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = _as_utc(start).timestamp() if start is not None else time.time()
        self._origin = time.monotonic()

    def timestamp(self) -> float:
        return self._start + (time.monotonic() - self._origin) * self.speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)
