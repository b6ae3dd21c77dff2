"""Tolerant reads from decoded JSON, shared by the provider modules (pure, no I/O).

Optional readers return None for anything missing, null or of the wrong type: providers
add fields, drop fields and send `""` or `0` for "unset", and none of that is an error.
Required readers raise `ProviderSchemaError` naming the field (with its path inside the
payload, e.g. `data[3].status`) and the job when it is known.

Ranges are checked here, at the boundary, so no value a provider sends can crash the pure
core later: times outside 1970–2199 read as absent (a date near year 9999 overflows as soon
as a threshold is added to it), integers beyond ±2**53 as absent, and every decoded string
is made encodable (`clean`: a lone surrogate, which JSON's `\ud800` escape can produce,
cannot be written to SQLite or quoted into a URL).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, TypeVar

from monitor.core.errors import ProviderSchemaError
from monitor.core.model import Novelty
from monitor.core.text import encodable

W = TypeVar("W")

JsonObject = Mapping[str, object]
EventData = dict[str, float | int | str | None]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)  # later than any real job; far from datetime.max
MAX_INT = 2**53  # the largest integer every JSON reader agrees on
MAX_EPOCHS = 100_000  # more is no real job; the core multiplies an epoch's time by it
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
SURROGATE_SPAN = 4  # bytes of the longest match of `_SURROGATE`


@dataclass(frozen=True, slots=True)
class Where:
    """What is being parsed, for error messages: provider name, job id, field path prefix."""

    provider: str
    job_id: str | None = None
    prefix: str = ""

    def fail(self, name: str, detail: str) -> ProviderSchemaError:
        field = f"{self.prefix}{name}".rstrip(".") or "<body>"
        return ProviderSchemaError(self.provider, field, self.job_id, detail)

    def at(self, prefix: str, *, job_id: str | None = None) -> Where:
        """The same payload, one level down (`data[3].`), optionally with the job now known."""
        return Where(self.provider, job_id or self.job_id, f"{self.prefix}{prefix}")


def as_object(value: object, where: Where, name: str) -> JsonObject:
    if not isinstance(value, Mapping):
        raise where.fail(name, f"expected an object, got {type(value).__name__}")
    return value


def envelope_items(raw: object, where: Where, key: str = "data") -> list[object]:
    """The list inside a `{"data": [...]}` envelope; anything else is unreadable."""
    body = as_object(raw, where, "")
    items = body.get(key)
    if not isinstance(items, list):
        raise where.fail(key, f"expected a list, got {type(items).__name__}")
    return items


def has_more(raw: object) -> bool:
    """A paged envelope's `has_more`; missing or not `true` reads as the last page."""
    return isinstance(raw, Mapping) and opt_bool(raw, "has_more") is True


def required_str(obj: JsonObject, key: str, where: Where) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise where.fail(key, f"expected a non-empty string, got {type(value).__name__}")
    return value


def required_time(
    obj: JsonObject, key: str, where: Where, parse: Callable[[object], datetime | None]
) -> datetime:
    parsed = parse(obj.get(key))
    if parsed is None:
        raise where.fail(key, f"expected a timestamp, got {type(obj.get(key)).__name__}")
    return parsed


def opt_str(obj: JsonObject, key: str) -> str | None:
    """A non-empty string, else None (Together writes `""` for unset)."""
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def opt_int(obj: JsonObject, key: str, *, at_most: int = MAX_INT) -> int | None:
    """An integer within ±`at_most` (a count beyond any real one reads as absent)."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -at_most <= value <= at_most else None


def opt_bool(obj: JsonObject, key: str) -> bool | None:
    value = obj.get(key)
    return value if isinstance(value, bool) else None


def any_float(value: object) -> float | None:
    """A float from an int or float (never a bool), NaN and infinity kept; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def finite_float(value: object) -> float | None:
    """Like `any_float`, but NaN and infinity read as None."""
    result = any_float(value)
    return result if result is not None and math.isfinite(result) else None


def bounded_float(value: object, low: float, high: float) -> float | None:
    """A finite float within [low, high], else None (`seconds_remaining` of 1e12 is none)."""
    result = finite_float(value)
    return result if result is not None and low <= result <= high else None


def _in_range(at: datetime) -> datetime | None:
    return at if EPOCH <= at < LATEST else None


def iso_time(value: object) -> datetime | None:
    """ISO-8601 (`…Z`, with or without a fraction, or with an offset) as aware UTC.

    A string without an offset is taken as UTC.
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return _in_range(parsed.replace(tzinfo=UTC))
        return _in_range(parsed.astimezone(UTC))
    except (ValueError, OverflowError):
        return None


def unix_time(value: object) -> datetime | None:
    """Unix seconds (int or float) as aware UTC."""
    seconds = finite_float(value)
    if seconds is None:
        return None
    try:
        return _in_range(datetime.fromtimestamp(seconds, UTC))
    except (ValueError, OverflowError, OSError):
        return None


def ns_time(value: object) -> datetime | None:
    """Integer nanoseconds since the epoch as aware UTC, exact to the microsecond."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        return _in_range(EPOCH + timedelta(microseconds=value // 1000))
    except OverflowError:
        return None


def scalar_data(obj: object) -> EventData:
    """The scalar entries of a map (numbers, strings, null; NaN and inf kept as floats)."""
    if not isinstance(obj, Mapping):
        return {}
    return {
        str(k): v
        for k, v in obj.items()
        if v is None or isinstance(v, str | int | float)  # a bool passes as an int
    }


class Identity(NamedTuple):
    obj: JsonObject
    where: Where
    id: str
    status: str
    created_at: datetime | None


def read_identity(
    raw: object,
    where: Where,
    parse_time: Callable[[object], datetime | None],
    *,
    created_required: bool = True,
) -> Identity:
    """The fields a job must have: id and status, and created_at where the shape requires it.

    The id is read first so that errors about `status` and `created_at` name the job.
    """
    obj = as_object(raw, where, "")
    job_id = required_str(obj, "id", where)
    where = where.at("", job_id=job_id)
    status = required_str(obj, "status", where)
    if created_required:
        created_at: datetime | None = required_time(obj, "created_at", where, parse_time)
    else:
        created_at = parse_time(obj.get("created_at"))
    return Identity(obj, where, job_id, status, created_at)


def may_hold_surrogates(content: bytes | bytearray) -> bool:
    """Whether a raw body may decode to a lone surrogate (an escaped or raw one). Two
    plain scans first: they cost a third of the pattern's on a body with neither."""
    if b"\\u" not in content and b"\xed" not in content:
        return False
    return _SURROGATE.search(content) is not None


def clean(value: object) -> object:
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD.

    Walked only when `may_hold_surrogates(body)`, so the usual answer costs one scan of
    its bytes.
    """
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, list):
        return [clean(item) for item in value]
    if isinstance(value, dict):
        return {encodable(str(k)): clean(v) for k, v in value.items()}
    return value


def word_in(table: Mapping[str, W], raw: object, default: W) -> W:
    """A provider's word (a status, a level) looked up case- and space-insensitively in its
    table; anything new, missing or not text is `default` (the caller logs it once)."""
    if not isinstance(raw, str):
        return default
    return table.get(raw.strip().lower(), default)


def word_novelty(table: Collection[str], raw: object, what: str) -> tuple[Novelty, ...]:
    """A word (status, event type, level) the provider's table does not know, as a
    `Novelty`; an absent one (missing, null, empty) is not new."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ()
    if isinstance(raw, str):
        return () if raw.strip().lower() in table else (Novelty(what=what, value=raw.strip()),)
    return (Novelty(what=what, value=f"a {type(raw).__name__}, not text"),)


JSON_TYPES: Mapping[type, str] = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "list",
    dict: "object",
}


def _json_names(types: Collection[type]) -> str:
    names = {JSON_TYPES.get(t, t.__name__) for t in types}
    return "/".join(sorted(names - {"integer"} if "number" in names else names))


def mistyped(obj: JsonObject, expected: Mapping[str, tuple[type, ...]]) -> tuple[Novelty, ...]:
    """Documented fields present (not null) with another type than the documented one: the
    tolerant readers then read them as absent, so a fact may be lost without a word."""
    out = []
    for name, types in expected.items():
        value = obj.get(name)
        if value is None:
            continue
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            sent = _json_names([type(value)])
            wanted = _json_names(types)
            out.append(Novelty(what=f"field {name}", value=f"{sent} instead of {wanted}"))
    return tuple(out)
