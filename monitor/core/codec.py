"""JSON for the state records, driven by their declared types (pure).

Encoding walks a frozen dataclass field by field; decoding reads each field's type hint
and rebuilds exactly that type: datetimes and times from ISO text, durations from seconds,
enums from their words, tuples, frozensets and mappings of any of these, nested records.
So a field added to a record round-trips as its type without anyone keeping a list of
field names. Non-finite floats
(a NaN loss) are written as the words "nan" / "inf" / "-inf" (JSON has no NaN); `null`
in a float position, as older files wrote a NaN loss, reads back as NaN. Fields the
record no longer has (a file from a newer ftmon) are dropped; a value of the wrong type
is a ValueError, which the store reports as an unreadable state.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def dumps(record: object) -> str:
    """A record as compact, key-sorted JSON."""
    return json.dumps(encode(record), sort_keys=True, allow_nan=False, separators=(",", ":"))


def loads(cls: type[T], text: str) -> T:
    """A record of type `cls` from `dumps` output (or an older version's)."""
    value: T = decode(cls, json.loads(text))
    return value


def encode(value: object) -> object:
    """Plain JSON values for a record and everything inside it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, frozenset | set):
        return sorted((encode(v) for v in value), key=json.dumps)
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(tp: Any, raw: object) -> Any:
    """`raw` (decoded JSON) rebuilt as the type `tp` says."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return _union(args, raw)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _record(tp, raw)
    if tp is datetime:
        return datetime.fromisoformat(_expect(str, raw))
    if tp is time:
        return time.fromisoformat(_expect(str, raw))
    if tp is timedelta:
        return timedelta(seconds=_expect(int | float, raw))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(raw)
    if tp is float:
        return math.nan if raw is None else float(_expect(int | float | str, raw))
    if tp in (int, str, bool):
        return _expect(tp, raw)
    if origin is tuple:
        items = _expect(list, raw)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v) for v in items)
        return tuple(decode(a, v) for a, v in zip(args, items, strict=True))
    if origin in (frozenset, set):
        return frozenset(decode(args[0], v) for v in _expect(list, raw))
    if origin in (Mapping, dict):
        return {k: decode(args[1], v) for k, v in _expect(dict, raw).items()}
    if tp is Any or tp is object:
        return raw
    raise ValueError(f"no JSON decoding for type {tp!r}")


def _union(args: tuple[Any, ...], raw: object) -> object:
    if raw is None and type(None) in args:
        return None
    for option in (a for a in args if a is not type(None)):
        try:
            return decode(option, raw)
        except (TypeError, ValueError):
            continue
    raise ValueError(f"{raw!r} is none of {args!r}")


def _record(cls: type, raw: object) -> object:
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    given = _expect(dict, raw)
    return cls(**{k: decode(hints[k], v) for k, v in given.items() if k in names})


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _expect(tp: Any, raw: object) -> Any:
    if (tp is int and isinstance(raw, bool)) or not isinstance(raw, tp):
        raise ValueError(f"expected {tp!r}, got {raw!r}")
    return raw
