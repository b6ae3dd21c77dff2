"""Text from outside is neutralised where it is shown: one line, no control, encodable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.text import REPLACEMENT, encodable, label_value, one_line

# Every character `str.splitlines` breaks on, plus the controls a terminal acts on.
SPLITTERS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text", "plain text"),  # nothing to do
        ("a\r\nb", "a  b"),  # CR LF: two spaces, so lengths stay readable
        ("a\u2028kind=job.succeeded", "a kind=job.succeeded"),  # a forged label line stays inline
        ("\x1b[31mred\x1b[0m", " [31mred [0m"),  # ANSI escapes lose their ESC
        ("tab\there", "tab here"),  # a tab could misalign the status table
        ("rtl\u202eevil", "rtl evil"),  # a bidi override could reorder what is shown
        ("lone \ud800 surrogate", f"lone {REPLACEMENT} surrogate"),  # cannot be encoded at all
        ("naïve — ünïcode ✓", "naïve — ünïcode ✓"),  # printable text is kept as it is
    ],
)  # fmt: skip
def test_one_line(raw: str, shown: str) -> None:
    assert one_line(raw) == shown


@pytest.mark.parametrize("splitter", SPLITTERS)
def test_no_line_separator_survives(splitter: str) -> None:
    assert len(f"a{splitter}b".splitlines()) == 2  # the premise: a reader splits here
    assert one_line(f"a{splitter}b").splitlines() == ["a b"]
    assert label_value(f"a{splitter}b") == "a_b"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("ft-abc", "ft-abc"),  # an ordinary id
        ("", "-"),  # empty is a dash, so the key keeps a value
        ("two words", "two_words"),  # a space would split the label line
        ("ft\tx\u2028y\u3000z", "ft_x_y_z"),  # tab, line separator, ideographic space
        ("ft-\udcff", f"ft-{REPLACEMENT}"),  # a lone surrogate in a job id
    ],
)  # fmt: skip
def test_label_value(raw: str, value: str) -> None:
    assert label_value(raw) == value


@given(st.text())
def test_any_text_is_one_encodable_line_without_controls(text: str) -> None:
    shown = one_line(text)
    assert len(shown.splitlines()) <= 1
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    shown.encode("utf-8")  # never raises: no lone surrogate left
    encodable(text).encode("utf-8")


@given(st.text())
def test_any_label_value_is_one_token(text: str) -> None:
    value = label_value(text)
    assert value.split() == [value]
    value.encode("utf-8")
