"""Why a job ended: cause classification from event types, then messages, then error codes.

Real message wording varies and is mostly undocumented, so matching is by event type
first and by loose patterns second (never by whole sentences). Each event contributes
*signals* that are remembered in the job state, because the event that explains a
cancellation (a billing-limit line) often arrives a poll before the status changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from monitor.core.alerts import Cause
from monitor.core.model import JobError, JobEvent, Level, Status

_BILLING = re.compile(
    r"billing|balance|credit|spend(ing)?[ _-]?limit|insufficient[ _-]?(funds|quota)|payment|quota",
    re.I,
)
_WANDB = re.compile(r"weights\s*(&|and)\s*biases|\bwandb\b|\bw&b\b", re.I)
_VALIDATION = re.compile(r"validat", re.I)
_BAD_INPUT = re.compile(r"invalid|malformed|format|schema|could not parse|jsonl", re.I)
_FILE = re.compile(r"\bfile\b", re.I)
_PROVIDER_SIDE = re.compile(r"internal|hardware|node fail|gpu|server error|unexpected error", re.I)
_STARTED = re.compile(r"\b(job|fine-tuning job|training)\s+started\b", re.I)
_CANCELLED = re.compile(r"cancel", re.I)
_RESTARTED = re.compile(r"restart", re.I)
_REFUND = re.compile(r"refund", re.I)

NEW_JOB_ID = re.compile(r"ft-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_AMOUNT = re.compile(
    r"\$\s?([0-9][0-9,]*(?:\.[0-9]+)?)|([0-9][0-9,]*(?:\.[0-9]+)?)\s?(?:USD|dollars)"
)

# Event types (lowercased) that carry a meaning of their own.
_TYPE_SIGNALS = {
    "billing_limit": "billing_limit",
    "job_error": "provider_error",
    "cancel_requested": "cancel_requested",
    "job_stopped": "cancel_requested",
    "job_start": "started",
    "training_start": "started",
    "job_restarted": "restarted",
    "refund": "refund",
    "job_complete": "completed",
}


def event_signals(event: JobEvent) -> frozenset[str]:
    """What one log line tells about the job's fate, by type first and message second."""
    signals: set[str] = set()
    if event.type in _TYPE_SIGNALS:
        signals.add(_TYPE_SIGNALS[event.type])
    text = event.message
    if event.type == "job_user_error":
        signals.add("user_error")
    if event.type in ("job_user_error", "job_error", "warning") or event.level is not Level.INFO:
        signals |= _message_signals(text)
    if event.type == "message":  # OpenAI: plain text lines only
        if _STARTED.search(text):
            signals.add("started")
        if _CANCELLED.search(text):
            signals.add("cancel_requested")
    if event.type not in _TYPE_SIGNALS:
        if _RESTARTED.search(text) and NEW_JOB_ID.search(text):
            signals.add("restarted")
        if _REFUND.search(text):
            signals.add("refund")
    return frozenset(signals)


def _message_signals(text: str) -> set[str]:
    found = set()
    if _WANDB.search(text):
        found.add("wandb_auth")
    elif _BILLING.search(text):
        found.add("billing_limit")
    elif _VALIDATION.search(text):
        found.add("data_validation")
    elif _BAD_INPUT.search(text):
        found.add("invalid_file" if _FILE.search(text) else "data_validation")
    elif _PROVIDER_SIDE.search(text):
        found.add("provider_error")
    return found


def classify(
    raw_status: str, status: Status, signals: Iterable[str], error: JobError | None
) -> Cause:
    """The cause of a failure or cancellation: event types, then messages, then error codes."""
    seen = set(signals)
    for signal, cause in (
        ("billing_limit", Cause.BILLING_LIMIT),
        ("wandb_auth", Cause.WANDB_AUTH),
        ("data_validation", Cause.DATA_VALIDATION),
        ("invalid_file", Cause.INVALID_FILE),
    ):
        if signal in seen:
            return cause
    if error is not None and (error.code or error.message):
        return _classify_error(error)
    if "provider_error" in seen or raw_status == "error":
        return Cause.PROVIDER_ERROR
    if status in (Status.CANCELLED, Status.CANCELLING) and "cancel_requested" in seen:
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


def restart_target(event: JobEvent, own_id: str) -> str | None:
    """The new job id a restart line names, if it names one."""
    for match in NEW_JOB_ID.finditer(event.message):
        if match.group(0) != own_id:
            return match.group(0)
    return None


def refund_amount(text: str) -> float | None:
    match = _AMOUNT.search(text)
    if not match:
        return None
    number = (match.group(1) or match.group(2)).replace(",", "")
    try:
        return float(number)
    except ValueError:
        return None
