"""Reading a big `{"data": [...]}` list one item at a time, as its bytes arrive (pure).

Together's job list has no paging: ten thousand jobs are one ~6 MB body. Decoding it
whole holds every job's dict at once (~15 MB), and even holding its bytes until they are
all in was a poll's largest allocation. `ItemStream` is fed the body a chunk at a time
(as the socket delivers it) and hands over each item of the list as soon as it is whole,
so neither the body nor its jobs' dicts are ever held together: only the text not yet
consumed is kept.

A body that is not the plain envelope is kept whole while no item has been handed over,
and `close` hands it back, for the caller to decode whole (its error then reads as for any
body); past the first item, `NotPlain` is raised at once. Items are what `decode_json`
would give: lone surrogates are replaced where the bytes may hold one.

Each step of the envelope's small grammar (`{`, a member, an item, a separator) either
completes on the text it has or waits for more, and a step that waited is tried again
only once the text has doubled, so a value split over many chunks costs linear time.
Anything it does not expect is not plain: another shape, bad JSON, a repeated key,
nesting deeper than Python's recursion limit.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from typing import Protocol

from monitor.providers._fields import SURROGATE_SPAN, clean, may_hold_surrogates

_DECODER = json.JSONDecoder()  # NaN and Infinity are accepted, as by json.loads
_SPACE = re.compile(r"[ \t\n\r]*")

Visit = Callable[[int, object, str], None]  # an item's index, its value and its text


class Repeats(Protocol):
    """Which items may be skipped unread, as the very text of one seen before
    (`_repeats.Repeats`)."""

    def expect(self) -> tuple[int, int] | None: ...
    def repeated(self) -> object: ...


class NotPlain(ValueError):
    """The body is not a plain JSON object with one `key` list."""


class _More(Exception):
    """The step needs text that has not arrived yet."""


class ItemStream:
    """`feed` it the body's bytes in order, then `close`; `visit(index, item, text)` is
    called for each item of the top-level `key` list, in order, but for the items that
    `repeats` expects and that repeat their text (skipped unread). A body that is
    anything else raises `NotPlain` once an item was handed over, else `close` returns
    it whole; what `visit` raises passes through."""

    def __init__(self, key: str, visit: Visit, repeats: Repeats | None = None) -> None:
        self._key, self._visit, self._repeats = key, visit, repeats
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text, self._pos = "", 0  # the text not consumed yet starts at `_pos`
        self._ended = False
        self._step: Callable[[], None] = self._open
        self._found = False  # the key's list was seen
        self._done = False  # the object closed
        self._wait = 0  # characters to have before trying a step that waited again
        self.items = 0  # items handed over so far
        self.members: dict[str, object] = {}  # the object's other members (`has_more`…)
        self._held: bytearray | None = bytearray()  # the body, until an item is handed over
        self._plain = True  # nothing unexpected so far
        self._dirty, self._tail = False, b""  # lone surrogates possible; the last bytes seen

    def feed(self, data: bytes | bytearray) -> None:
        edge = self._tail + data[: SURROGATE_SPAN - 1]  # a match may straddle two chunks
        self._dirty = self._dirty or may_hold_surrogates(edge) or may_hold_surrogates(data)
        self._tail = (self._tail + data[1 - SURROGATE_SPAN :])[1 - SURROGATE_SPAN :]
        if self._held is not None:
            self._held += data
        self._parse(data, final=False)

    def close(self) -> bytes | None:
        """The body has ended: None when it was the plain envelope (every item handed
        over), else the body whole, when no item was."""
        self._parse(b"", final=True)
        if self._plain and not (self._done and self._found):
            self._not_plain(NotPlain(f"no {self._key} list, or the body ended early"))
        return None if self._plain or self._held is None else bytes(self._held)

    def _parse(self, data: bytes | bytearray, *, final: bool) -> None:
        if self._plain:
            try:
                self._run(data, final=final)
            except NotPlain as exc:
                self._not_plain(exc)

    def _not_plain(self, exc: NotPlain) -> None:
        if self.items:
            raise exc
        self._plain = False

    def _run(self, data: bytes | bytearray, *, final: bool) -> None:
        try:
            self._text = self._text[self._pos :] + self._decoder.decode(data, final=final)
            self._pos, self._ended = 0, final
            if len(self._text) < self._wait and not final:
                return
            while not self._done:
                try:
                    self._step()
                except _More:
                    if final:
                        raise NotPlain("the body ended") from None
                    self._wait = 2 * (len(self._text) - self._pos)
                    return
            self._wait = 0
            self._expect_end()
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            if isinstance(exc, NotPlain):
                raise
            raise NotPlain(str(exc)) from None

    # -- the text, from `_pos` on ----------------------------------------------------------

    def _skip(self, pos: int) -> int:
        """The position of the first character at or after `pos` that is not white space."""
        match = _SPACE.match(self._text, pos)
        return match.end() if match else pos

    def _char(self, pos: int) -> tuple[str, int]:
        """The next character that is not white space at or after `pos`, and its position."""
        pos = self._skip(pos)
        if pos >= len(self._text):
            raise _More
        return self._text[pos], pos

    def _value(self, pos: int) -> tuple[object, int]:
        """The whole JSON value at `pos`: something must follow any value of a valid body,
        so a value that ends the text so far (a number cut short) waits for more."""
        try:
            value, end = _DECODER.raw_decode(self._text, pos)
        except ValueError:
            if self._ended:
                raise
            raise _More from None
        if end >= len(self._text) and not self._ended:
            raise _More
        return value, end

    def _go(self, pos: int, step: Callable[[], None]) -> None:
        self._pos, self._step = pos, step

    # -- the steps: each completes on the text it has, or raises _More and changes nothing --

    def _open(self) -> None:
        char, pos = self._char(self._pos)
        if char != "{":
            raise NotPlain("not an object")
        char, _ = self._char(pos + 1)
        self._go(pos + 1, self._close if char == "}" else self._member)

    def _member(self) -> None:
        name, pos = self._value(self._char(self._pos)[1])
        if not isinstance(name, str):
            raise NotPlain("a key that is not a string")
        colon, pos = self._char(pos)
        if colon != ":":
            raise NotPlain("expected :")
        char, pos = self._char(pos + 1)
        if name == self._key and char == "[" and not self._found:
            first, at = self._char(pos + 1)
            self._found = True
            self._go(at + 1 if first == "]" else at, self._after if first == "]" else self._item)
        elif name == self._key:
            raise NotPlain(f"{self._key} is not a list, or repeated")
        else:
            value, end = self._value(pos)
            self._go(end, self._after)
            self.members[name] = value

    def _item(self) -> None:
        _, pos = self._char(self._pos)
        repeats = self._repeats
        if repeats is not None and (expected := repeats.expect()) is not None:
            length, digest = expected
            if pos + length > len(self._text) and not self._ended:
                raise _More
            if hash(self._text[pos : pos + length]) == digest:
                self._go(pos + length, self._next_item)
                self.items, self._held = self.items + 1, None
                repeats.repeated()
                return
        item, end = self._value(pos)
        self._go(end, self._next_item)
        index, self.items, self._held = self.items, self.items + 1, None
        self._visit(index, clean(item) if self._dirty else item, self._text[pos:end])

    def _next_item(self) -> None:
        char, pos = self._char(self._pos)
        if char == ",":
            self._go(pos + 1, self._item)
        elif char == "]":
            self._go(pos + 1, self._after)
        else:
            raise NotPlain("expected , or ]")

    def _after(self) -> None:
        """After a member: another one, or the end of the object."""
        char, pos = self._char(self._pos)
        if char == "}":
            self._go(pos, self._close)
        elif char == ",":
            if self._char(pos + 1)[0] == "}":
                raise NotPlain("a trailing comma")
            self._go(pos + 1, self._member)
        else:
            raise NotPlain("expected , or }")

    def _close(self) -> None:
        _, pos = self._char(self._pos)
        self._pos, self._done = pos + 1, True

    def _expect_end(self) -> None:
        """Only white space may follow the object."""
        if self._skip(self._pos) != len(self._text):
            raise NotPlain("data after the object")
