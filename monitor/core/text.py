"""Text from outside, made safe to show (pure).

Provider payloads (model names, job ids, error messages, event lines) reach messages, label
lines, logs and the `status` table. A reader splits lines on more than `\\n`: Python's
`str.splitlines` also breaks on `\\r`, vertical tab, form feed, the file/group/record
separators (U+001C–U+001E), NEL (U+0085) and the Unicode line and paragraph separators
(U+2028, U+2029). Left in, any of them would let a model name plant a forged
`kind=… severity=…` label line of its own, or move a terminal's cursor (ANSI escapes). So:

    one_line(text)     every line break and C0/C1 control (tab and ESC included), and the
                       bidirectional overrides, become one space; lone surrogates (which
                       cannot be encoded at all) become U+FFFD
    label_value(text)  the same, and any whitespace, become `_`: a label line splits on
                       whitespace and nothing else
"""

from __future__ import annotations

import re

# C0 controls (tab, newline, ESC, ...), DEL and the C1 controls (NEL among them), the line
# and paragraph separators, and the bidirectional embedding/override/isolate controls.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_LABEL_BREAKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
REPLACEMENT = "\ufffd"


def one_line(text: str) -> str:
    """`text` as one line with nothing a terminal or a line splitter would act on."""
    return _CONTROLS.sub(" ", _SURROGATES.sub(REPLACEMENT, text))


def label_value(text: str) -> str:
    """A label value: one token, no whitespace, no control; `-` when empty."""
    return _LABEL_BREAKS.sub("_", _SURROGATES.sub(REPLACEMENT, text)) if text else "-"


def encodable(text: str) -> str:
    """`text` with lone surrogates replaced, so it can be written as UTF-8 (SQLite, JSON)."""
    return _SURROGATES.sub(REPLACEMENT, text)
