"""Reading a big `{"data": [...]}` list one item at a time (pure, no I/O).

Together's job list has no paging: ten thousand jobs are one ~6 MB body, and decoding it
whole holds every job's dict at once (~15 MB) before the first is parsed. `each_item`
walks the envelope with the standard decoder and hands over one item at a time, so a
job's dict is gone once it is parsed. Anything it does not expect (another shape, bad
JSON, a repeated key, nesting deeper than Python's recursion limit) makes it give up, and
the caller decodes the body whole, which keeps every error exactly as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

_DECODER = json.JSONDecoder()  # NaN and Infinity are accepted, as by json.loads
_SPACE = re.compile(r"[ \t\n\r]*")


class NotPlain(ValueError):
    """The body is not a plain JSON object with one `key` list; decode it whole."""


def each_item(content: bytes, key: str, visit: Callable[[int, object], None]) -> None:
    """Call `visit(index, item)` for each item of the top-level `key` list, in order.

    Raises `NotPlain` when the body is anything else (the caller then falls back); what
    `visit` raises passes through.
    """
    try:
        text = content.decode("utf-8")
        _walk(text, key, visit)
    except (UnicodeDecodeError, ValueError, IndexError, RecursionError) as exc:
        if isinstance(exc, NotPlain):
            raise
        raise NotPlain(str(exc)) from None


def _walk(text: str, key: str, visit: Callable[[int, object], None]) -> None:
    pos = _skip(text, 0)
    if text[pos] != "{":
        raise NotPlain("not an object")
    pos = _skip(text, pos + 1)
    found = False
    while text[pos] != "}":  # an empty object has no list: NotPlain below
        name, pos = _DECODER.raw_decode(text, pos)
        if not isinstance(name, str):
            raise NotPlain("a key that is not a string")
        pos = _expect(text, _skip(text, pos), ":")
        if name == key and text[pos] == "[" and not found:
            pos, found = _items(text, pos, visit), True
        elif name == key:
            raise NotPlain(f"{key} is not a list, or repeated")
        else:
            _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos] == "}":
            break
        pos = _skip(text, _expect(text, pos, ","))
        if text[pos] == "}":
            raise NotPlain("a trailing comma")
    if not found or _skip(text, pos + 1) != len(text):
        raise NotPlain(f"no {key} list, or data after the object")


def _items(text: str, pos: int, visit: Callable[[int, object], None]) -> int:
    """Visit the list starting at `pos` (its `[`); the position after its `]`."""
    pos = _skip(text, pos + 1)
    if text[pos] == "]":
        return pos + 1
    index = 0
    while True:
        item, pos = _DECODER.raw_decode(text, pos)
        visit(index, item)
        index += 1
        pos = _skip(text, pos)
        if text[pos] == "]":
            return pos + 1
        pos = _expect(text, pos, ",")


def _skip(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def _expect(text: str, pos: int, char: str) -> int:
    if text[pos] != char:
        raise NotPlain(f"expected {char}")
    return _skip(text, pos + 1)
