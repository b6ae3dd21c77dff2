"""Durations in the config: parse_duration / format_duration, by table and by property."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),  # seconds past a minute are fine
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(hours=1, minutes=30)),  # units combine, largest first
        ("7d", timedelta(days=7)),
        ("2h", timedelta(hours=2)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),  # all four
        ("0s", timedelta(0)),  # zero parses; callers decide whether it means anything
        ("05m", timedelta(minutes=5)),  # a leading zero is still a number
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    """The written forms of DESIGN section 5 parse to their timedelta."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", None),  # empty
        ("60", "a number needs a unit"),  # a bare number
        ("-5m", "durations cannot be negative"),  # negative
        ("1x", None),  # unknown unit
        ("m5", None),  # unit first
        ("1.5h", None),  # a fraction
        ("30m1h", None),  # units out of order
        ("1h1h", None),  # a unit twice
        ("1h 30m", None),  # a space
        ("1H", None),  # upper case
        ("500ms", None),  # milliseconds are not supported
        ("\u0661s", None),  # a non-ASCII digit
        ("99999999999999d", "too large"),  # beyond what a timedelta holds
    ],
)
def test_parse_duration_rejects(text: str, reason: str | None) -> None:
    """Anything but <number><unit> parts in falling order is rejected, with a reason."""
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert caught.value.reason == reason
    assert str(caught.value).startswith('expected a duration like "90s"')


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=7), "7d"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(seconds=59, microseconds=999_999), "59s"),  # fractions are dropped
    ],
)
def test_format_duration(duration: timedelta, text: str) -> None:
    """The canonical text uses each unit once, largest first, and omits zero parts."""
    assert format_duration(duration) == text


def test_format_duration_rejects_negative() -> None:
    """A negative duration has no text form that would read back."""
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


parts = st.one_of(st.none(), st.integers(min_value=0, max_value=10_000))


@st.composite
def duration_texts(draw: st.DrawFn) -> str:
    """Any valid written duration: optional d, h, m, s parts, at least one present."""
    values = draw(st.tuples(parts, parts, parts, parts).filter(lambda t: t != (None,) * 4))
    return "".join(f"{v}{u}" for v, u in zip(values, "dhms", strict=True) if v is not None)


@given(duration_texts())
def test_written_durations_round_trip(text: str) -> None:
    """Formatting a parsed duration and parsing it again gives the same duration."""
    duration = parse_duration(text)
    canonical = format_duration(duration)
    assert parse_duration(canonical) == duration
    assert format_duration(parse_duration(canonical)) == canonical


@given(st.integers(min_value=0, max_value=10**12))
def test_whole_second_durations_round_trip(seconds: int) -> None:
    """Every whole-second timedelta reads back from its text exactly."""
    duration = timedelta(seconds=seconds)
    assert parse_duration(format_duration(duration)) == duration
