"""The core speaks no provider: no provider's status word or event type in `monitor/core/`.

How it is checked: every provider word is collected from the providers' own tables (the
status, phase and event-type tables of each provider module, Together's types in both
spellings). Words that are also ftmon's own vocabulary (a normalized status, phase, event
kind, level, cause, alert kind or severity, e.g. `queued`, `billing_limit`) are set
aside: they are ftmon's contract, not the provider's (so is "refund": the messages'
"Refund" line). Every token of every core module
(names, strings, docstrings and comments) is then searched for the rest as whole words,
and the providers' members of `ProviderKind` must not be referenced (the enum itself
stays: it is the config's list of `kind` words, which the core never branches on). A
planted line shows the scan can fail.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from monitor.core.alerts import Cause, ConditionState, Kind, Severity
from monitor.core.model import EventKind, Level, Phase, Status
from monitor.providers import openai, openai_words, together, together_events, together_words

CORE = Path(__file__).resolve().parents[2] / "monitor" / "core"


def provider_words() -> frozenset[str]:
    tg_kinds = together_words.KINDS
    words = {*together.STATUS, *together_words.PHASES, *tg_kinds, *together_events.TYPE_ALIASES}
    words |= {*openai.STATUS, *openai_words.PHASES, "validating_files", "metrics", "message"}
    words |= {w.upper() for w in tg_kinds} | {"COMPRESSING_MODEL"}
    own = {
        str(v) for enum in (Status, Phase, EventKind, Level, Cause, Kind, Severity) for v in enum
    }
    own |= {str(v) for v in ConditionState}
    own.add("refund")  # ftmon's own message word too: the "Refund" line, `refund_usd`
    return frozenset(w for w in words if w not in own and w.lower() not in own)


def violations(source: str, words: frozenset[str]) -> list[str]:
    """Every provider word or provider `ProviderKind` member in a module's tokens."""
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, words))) + r")\b")
    found = [f"ProviderKind.{m}" for m in re.findall(r"ProviderKind\.(\w+)", source)]
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.NAME, tokenize.STRING, tokenize.COMMENT):
            found += [f"{token.start[0]}: {m}" for m in pattern.findall(token.string)]
    return found


def test_the_core_has_no_provider_status_word_or_event_type() -> None:
    words = provider_words()
    assert {"user_error", "compressing", "job_start", "epoch_complete", "validating_files"} <= words
    found = {
        path.name: hits
        for path in sorted(CORE.glob("*.py"))
        if (hits := violations(path.read_text(), words))
    }
    assert found == {}


def test_a_planted_provider_word_is_found() -> None:
    """The scan can fail: a raw status, an event type and a provider branch are caught."""
    planted = 'if raw == "user_error" or kind is ProviderKind.OPENAI:  # epoch_complete\n    pass\n'
    assert len(violations(planted, provider_words())) == 3
