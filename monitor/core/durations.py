"""Durations as people write them in the config: `90s`, `15m`, `1h30m`, `7d`.

A duration is one or more `<whole number><unit>` parts with the units in falling order,
each at most once: d (days), h (hours), m (minutes), s (seconds). Bare numbers, signs,
fractions, spaces and other units are rejected, so `60`, `-5m`, `1.5h`, `1x` and `m5` are
all errors. `format_duration` writes the canonical form back (`90s` reads back as
`1m30s`), so `parse_duration(format_duration(d)) == d` for every whole-second duration.
"""

from __future__ import annotations

import re
from datetime import timedelta

DURATION_EXAMPLES = '"90s", "15m", "1h30m" or "7d"'

_PATTERN = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_UNIT_SECONDS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


class DurationError(ValueError):
    """Not a duration; `reason` adds why when there is more to say than "not one"."""

    def __init__(self, text: str, reason: str | None = None) -> None:
        self.reason = reason
        why = f" ({reason})" if reason else ""
        super().__init__(f"expected a duration like {DURATION_EXAMPLES}, got {text!r}{why}")


def parse_duration(text: str) -> timedelta:
    """`"1h30m"` -> `timedelta(hours=1, minutes=30)`; DurationError (a ValueError) if not."""
    match = _PATTERN.fullmatch(text)
    if not text or match is None:
        raise DurationError(text, _why_not(text))
    seconds = sum(
        int(part) * unit
        for part, (_, unit) in zip(match.groups(), _UNIT_SECONDS, strict=True)
        if part
    )
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise DurationError(text, "too large") from None


def format_duration(duration: timedelta) -> str:
    """The canonical text of a duration: `timedelta(seconds=90)` -> `"1m30s"`.

    Fractions of a second are dropped (durations in the config are whole seconds).
    """
    if duration < timedelta(0):
        raise ValueError("a negative duration has no text form")
    remaining = duration // timedelta(seconds=1)
    parts: list[str] = []
    for unit, size in _UNIT_SECONDS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _why_not(text: str) -> str | None:
    if text.startswith("-"):
        return "durations cannot be negative"
    if text.isascii() and text.isdigit():
        return "a number needs a unit"
    return None


def human_duration(seconds: float) -> str:
    """A duration for people: `1d05h`, `2h05m`, `45m`, `4m30s`, `30s` — short enough for a
    title, exact enough to act on. (`format_duration` is the exact form the config takes.)"""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m" if not secs else f"{minutes}m{secs:02d}s"
    return f"{secs}s"
