"""Why a job ended: cause classification from event kinds, then the words, then error codes.

Real message wording varies and is mostly undocumented, so a line's *kind* (the
provider's mapping of its own types) counts first and loose word patterns second (never
whole sentences). The words of every line that is not routine progress are read,
whatever its level: a cause often sits in an info-level or empty-level cancellation or
warning line (provider-apis.md section 4, item 7). Each line contributes *signals* that
are remembered in the job state, because the line that explains a cancellation (a
billing line) often arrives a poll before the status changes. A cancellation whose
lines name no cause is `unknown`, never "a person", unless the provider is one that
never cancels a job on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from monitor.core.alerts import Cause
from monitor.core.memory import Signal
from monitor.core.model import ROUTINE_KINDS, EventKind, JobError, JobEvent, Status

_BILLING = re.compile(
    r"billing|balance|credit|spend(ing)?[ _-]?limit|insufficient[ _-]?(funds|quota)|payment|quota",
    re.I,
)
_WANDB = re.compile(r"weights\s*(&|and)\s*biases|\bwandb\b|\bw&b\b", re.I)
_VALIDATION = re.compile(r"validat", re.I)
_BAD_INPUT = re.compile(r"invalid|malformed|format|schema|could not parse|jsonl", re.I)
_FILE = re.compile(r"\bfile\b", re.I)
_PROVIDER_SIDE = re.compile(r"internal|hardware|node fail|gpu|server error|unexpected error", re.I)
_BY_PERSON = re.compile(r"\bby (the |a )?(user|person|owner|api)\b|\brequested by\b|manual", re.I)

_AMOUNT = re.compile(
    r"\$\s?([0-9][0-9,]*(?:\.[0-9]+)?)|([0-9][0-9,]*(?:\.[0-9]+)?)\s?(?:USD|dollars)"
)

# Kinds that carry a meaning of their own.
_KIND_SIGNALS = {
    EventKind.BILLING: Signal.BILLING_LIMIT,
    EventKind.STOPPED: Signal.CANCEL,
    EventKind.STARTED: Signal.STARTED,
    EventKind.TRAINING: Signal.STARTED,
    EventKind.RESTARTED: Signal.RESTARTED,
    EventKind.REFUNDED: Signal.REFUNDED,
    EventKind.FINISHED: Signal.FINISHED,
    EventKind.DATA_ERROR: Signal.INPUT_ERROR,
    EventKind.EARLY_STOPPED: Signal.EARLY_STOPPED,
}


def event_signals(event: JobEvent) -> frozenset[Signal]:
    """What one log line tells about the job's fate: by kind, then by its words."""
    signals: set[Signal] = set()
    if event.kind in _KIND_SIGNALS:
        signals.add(_KIND_SIGNALS[event.kind])
    if event.kind not in ROUTINE_KINDS:  # any level: "" and info lines carry causes too
        signals |= _message_signals(event.message)
    return frozenset(signals)


def _message_signals(text: str) -> set[Signal]:
    found = set()
    if _WANDB.search(text):
        found.add(Signal.WANDB_AUTH)
    elif _BILLING.search(text):
        found.add(Signal.BILLING_LIMIT)
    elif _VALIDATION.search(text):
        found.add(Signal.DATA_VALIDATION)
    elif _BAD_INPUT.search(text):
        found.add(Signal.INVALID_FILE if _FILE.search(text) else Signal.DATA_VALIDATION)
    elif _PROVIDER_SIDE.search(text):
        found.add(Signal.PROVIDER_ERROR)
    elif _BY_PERSON.search(text):
        found.add(Signal.USER_REQUESTED)
    return found


def classify(
    status: Status,
    signals: Iterable[Signal],
    error: JobError | None,
    *,
    provider_fault: bool = False,
    provider_cancels: bool = True,
) -> Cause:
    """The cause of a failure or cancellation: signals, then error codes, then the status.

    `provider_fault`: the status itself says the provider's side failed. A cancellation
    without a cause is a person's only where the provider never cancels on its own.
    """
    seen = set(signals)
    for signal, cause in (
        (Signal.BILLING_LIMIT, Cause.BILLING_LIMIT),
        (Signal.WANDB_AUTH, Cause.WANDB_AUTH),
        (Signal.DATA_VALIDATION, Cause.DATA_VALIDATION),
        (Signal.INVALID_FILE, Cause.INVALID_FILE),
    ):
        if signal in seen:
            return cause
    if error is not None and (error.code or error.message):
        return _classify_error(error)
    if Signal.PROVIDER_ERROR in seen or provider_fault:
        return Cause.PROVIDER_ERROR
    cancelled = status in (Status.CANCELLED, Status.CANCELLING)
    if cancelled and Signal.USER_REQUESTED in seen:
        return Cause.USER_REQUESTED
    if cancelled and Signal.CANCEL in seen and not provider_cancels:
        return Cause.USER_REQUESTED
    return Cause.UNKNOWN


def _classify_error(error: JobError) -> Cause:
    words = " ".join(filter(None, (error.code, error.param, error.message)))
    if _BILLING.search(words):
        return Cause.INSUFFICIENT_BALANCE
    if _WANDB.search(words):
        return Cause.WANDB_AUTH
    if "file" in words.lower() or (error.code or "").startswith("invalid_n_"):
        return Cause.INVALID_FILE
    if _VALIDATION.search(words) or _BAD_INPUT.search(words):
        return Cause.DATA_VALIDATION
    if _PROVIDER_SIDE.search(words) or (error.code or "") in ("server_error", "internal_error"):
        return Cause.PROVIDER_ERROR
    return Cause.UNKNOWN


def refund_amount(text: str) -> float | None:
    match = _AMOUNT.search(text)
    if not match:
        return None
    number = (match.group(1) or match.group(2)).replace(",", "")
    try:
        return float(number)
    except ValueError:
        return None
