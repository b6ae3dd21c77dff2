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
import functools
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def dumps(record: object) -> str:
    """A record as compact, key-sorted JSON."""
    return _JSON(encode(record))


_JSON = json.JSONEncoder(sort_keys=True, allow_nan=False, separators=(",", ":")).encode


def loads(cls: type[T], text: str) -> T:
    """A record of type `cls` from `dumps` output (or an older version's)."""
    value: T = decode(cls, json.loads(text))
    return value


def encode(value: object) -> object:
    """Plain JSON values for a record and everything inside it."""
    if value is None or type(value) in _PLAIN:
        return value
    kind: Any = type(value)
    return _encoder(kind)(value)


Encoder = Callable[[Any], object]


@cache
def _encoder(kind: Any) -> Encoder:
    """The encoding of one type, worked out once: a poll writes hundreds of states of a
    few dozen values each, and every value of a type is encoded the same way."""
    names = _field_names(kind)
    if names is not None:
        return lambda value: {name: encode(getattr(value, name)) for name in names}
    if issubclass(kind, Enum):
        return lambda value: value.value
    if issubclass(kind, datetime | time):
        return lambda value: value.isoformat()
    if issubclass(kind, timedelta):
        return lambda value: value.total_seconds()
    if issubclass(kind, float):
        return lambda value: value if math.isfinite(value) else str(value)
    if issubclass(kind, frozenset | set):
        return lambda value: sorted((encode(v) for v in value), key=json.dumps)
    if issubclass(kind, tuple | list):
        return lambda value: [encode(v) for v in value]
    if issubclass(kind, Mapping):
        return lambda value: {str(k): encode(v) for k, v in value.items()}
    return _as_is


def _as_is(value: object) -> object:
    return value


def decode(tp: Any, raw: object) -> Any:
    """`raw` (decoded JSON) rebuilt as the type `tp` says."""
    return _decoder(tp)(raw)


Decoder = Callable[[object], Any]
_PLAIN = frozenset({str, int, bool})  # exactly these types (an enum of str is not plain)


@cache
def _field_names(tp: Any) -> tuple[str, ...] | None:
    """A record type's field names, once; None for any other type."""
    if dataclasses.is_dataclass(tp):
        return tuple(f.name for f in dataclasses.fields(tp))
    return None


@cache
def _decoder(tp: Any) -> Decoder:
    """The decoding of one type, worked out once: a store of thousands of states reads
    each field's type hint once, not once per value."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return _union(args)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _record(tp)
    if tp in _SCALARS:
        return _SCALARS[tp]
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp
    if tp in (int, str, bool):
        return functools.partial(_expect, tp)
    if origin is tuple:
        return _tuple(args)
    if origin in (frozenset, set):
        item = _decoder(args[0])
        return lambda raw: frozenset(item(v) for v in _expect(list, raw))
    if origin in (Mapping, dict):
        value = _decoder(args[1])
        return lambda raw: {k: value(v) for k, v in _expect(dict, raw).items()}
    if tp is Any or tp is object:
        return lambda raw: raw
    return functools.partial(_undecodable, tp)


_SCALARS: dict[Any, Decoder] = {
    datetime: lambda raw: datetime.fromisoformat(_expect(str, raw)),
    time: lambda raw: time.fromisoformat(_expect(str, raw)),
    timedelta: lambda raw: timedelta(seconds=_expect(int | float, raw)),
    float: lambda raw: math.nan if raw is None else float(_expect(int | float | str, raw)),
}


def _undecodable(tp: Any, raw: object) -> Any:
    raise ValueError(f"no JSON decoding for type {tp!r}")


def _tuple(args: tuple[Any, ...]) -> Decoder:
    if len(args) == 2 and args[1] is Ellipsis and args[0] is str:
        return _strings  # a job's seen log keys: hundreds per state
    if len(args) == 2 and args[1] is Ellipsis:
        item = _decoder(args[0])
        return lambda raw: tuple(item(v) for v in _expect(list, raw))
    items = [_decoder(a) for a in args]
    return lambda raw: tuple(d(v) for d, v in zip(items, _expect(list, raw), strict=True))


def _strings(raw: object) -> tuple[str, ...]:
    items = _expect(list, raw)
    if not all(type(v) is str for v in items):
        raise ValueError(f"expected strings, got {raw!r}")
    return tuple(items)


def _union(args: tuple[Any, ...]) -> Decoder:
    nullable = type(None) in args
    options = [_decoder(a) for a in args if a is not type(None)]

    def run(raw: object) -> object:
        if raw is None and nullable:
            return None
        for option in options:
            try:
                return option(raw)
            except (TypeError, ValueError):
                continue
        raise ValueError(f"{raw!r} is none of {args!r}")

    return run


def _record(cls: type) -> Decoder:
    """Fields the record does not have are dropped; each field's decoder is looked up on
    first use (a record may name itself)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    fields: dict[str, Decoder] = {}

    def field(name: str) -> Decoder:
        found = fields.get(name)
        if found is None:
            found = fields[name] = _decoder(hints[name])
        return found

    def run(raw: object) -> object:
        given = _expect(dict, raw)
        return cls(**{k: field(k)(v) for k, v in given.items() if k in names})

    return run


def _expect(tp: Any, raw: object) -> Any:
    if (tp is int and isinstance(raw, bool)) or not isinstance(raw, tp):
        raise ValueError(f"expected {tp!r}, got {raw!r}")
    return raw
