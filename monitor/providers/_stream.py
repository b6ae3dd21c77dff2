"""Reading a big `{"data": [...]}` list one item at a time (pure, no I/O).

Together's job list has no paging: ten thousand jobs are one ~6 MB body, and decoding it
whole holds every job's dict at once (~15 MB) before the first is parsed. `each_item`
walks the envelope with the standard decoder and hands over one item at a time, so a
job's dict is gone once it is parsed. The body is decoded to text a window at a time
(`WINDOW` bytes), so its text is never held whole beside its bytes either: that copy was
the largest allocation of a steady poll. Anything it does not expect (another shape, bad
JSON, a repeated key, nesting deeper than Python's recursion limit) makes it give up, and
the caller decodes the body whole, which keeps every error exactly as before.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable

_DECODER = json.JSONDecoder()  # NaN and Infinity are accepted, as by json.loads
_SPACE = re.compile(r"[ \t\n\r]*")
WINDOW = 262_144  # bytes of the body decoded to text at a time


class NotPlain(ValueError):
    """The body is not a plain JSON object with one `key` list; decode it whole."""


def each_item(
    content: bytes | bytearray,
    key: str,
    visit: Callable[[int, object], None],
    *,
    window: int = WINDOW,
) -> None:
    """Call `visit(index, item)` for each item of the top-level `key` list, in order.

    Raises `NotPlain` when the body is anything else (the caller then falls back); what
    `visit` raises passes through.
    """
    try:
        _walk(_Text(content, window), key, visit)
    except (UnicodeDecodeError, ValueError, IndexError, RecursionError) as exc:
        if isinstance(exc, NotPlain):
            raise
        raise NotPlain(str(exc)) from None


class _Text:
    """The body's text from the current window on: `text[pos]` for positions in it, and
    `more(pos)` to drop what is before `pos` and decode the next window."""

    def __init__(self, content: bytes | bytearray, window: int) -> None:
        self._content, self._window = content, window
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._next = 0  # the next byte to decode
        self.text = ""
        self.more(0)

    @property
    def ended(self) -> bool:
        return self._next >= len(self._content)

    def more(self, pos: int) -> int:
        """Keep the text from `pos` on and add the next window; the new position of `pos`.
        Raises IndexError when the body has ended."""
        if self.ended and self._next:
            raise IndexError("the body ended")
        end = self._next + self._window
        part = self._decoder.decode(
            self._content[self._next : end], final=end >= len(self._content)
        )
        self._next = end
        self.text = self.text[pos:] + part
        return 0

    def at(self, pos: int) -> tuple[str, int]:
        """The character at `pos` (decoding on as needed) and its position."""
        while pos >= len(self.text):
            pos = self.more(pos)
        return self.text[pos], pos

    def skip(self, pos: int) -> int:
        """The position of the next character that is not white space."""
        while True:
            match = _SPACE.match(self.text, pos)
            pos = match.end() if match else pos
            if pos < len(self.text) or self.ended:
                return pos
            pos = self.more(pos)

    def value(self, pos: int) -> tuple[object, int]:
        """The JSON value at `pos`, whole: a value the window cut short is decoded again
        with more text (something must follow any value of a valid body)."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, pos)
            except ValueError:
                if self.ended:
                    raise
                pos = self.more(pos)
                continue
            if end < len(self.text) or self.ended:
                return value, end
            pos = self.more(pos)


def _walk(text: _Text, key: str, visit: Callable[[int, object], None]) -> None:
    char, pos = text.at(text.skip(0))
    if char != "{":
        raise NotPlain("not an object")
    char, pos = text.at(text.skip(pos + 1))
    found = False
    while char != "}":  # an empty object has no list: NotPlain below
        name, pos = text.value(pos)
        if not isinstance(name, str):
            raise NotPlain("a key that is not a string")
        char, pos = text.at(_expect(text, text.skip(pos), ":"))
        if name == key and char == "[" and not found:
            pos, found = _items(text, pos, visit), True
        elif name == key:
            raise NotPlain(f"{key} is not a list, or repeated")
        else:
            _, pos = text.value(pos)
        char, pos = text.at(text.skip(pos))
        if char == "}":
            break
        char, pos = text.at(_expect(text, pos, ","))
        if char == "}":
            raise NotPlain("a trailing comma")
    end = text.skip(pos + 1)
    if not found or end != len(text.text) or not text.ended:
        raise NotPlain(f"no {key} list, or data after the object")


def _items(text: _Text, pos: int, visit: Callable[[int, object], None]) -> int:
    """Visit the list starting at `pos` (its `[`); the position after its `]`."""
    char, pos = text.at(text.skip(pos + 1))
    if char == "]":
        return pos + 1
    index = 0
    while True:
        item, pos = text.value(pos)
        visit(index, item)
        index += 1
        char, pos = text.at(text.skip(pos))
        if char == "]":
            return pos + 1
        pos = _expect(text, pos, ",")


def _expect(text: _Text, pos: int, want: str) -> int:
    char, pos = text.at(pos)
    if char != want:
        raise NotPlain(f"expected {want}")
    return text.skip(pos + 1)
