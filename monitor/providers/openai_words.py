"""OpenAI's words, mapped onto the core's: status → phase, message lines → event kinds,
`metrics` lines → loss points (provider-apis.md 2.4, 2.5).

Message lines follow their documented wording (`Fine-tuning job started`, `The job has
successfully completed`, `The job failed due to …`); the first pattern that matches wins,
and anything else is a plain `message`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime

from monitor.core.model import EventKind, LossPoint, Phase
from monitor.providers._fields import any_float

PHASES: Mapping[str, Phase] = {
    "validating_files": Phase.WAITING,
    "created": Phase.WAITING,
    "queued": Phase.WAITING,
    "running": Phase.TRAINING,
    "succeeded": Phase.ENDED,
    "failed": Phase.ENDED,
    "cancelled": Phase.ENDED,
}

# Message lines by their documented wording (provider-apis.md 2.5), first match wins.
MESSAGE_KINDS: tuple[tuple[re.Pattern[str], EventKind], ...] = (
    (re.compile(r"^created fine-tuning job", re.I), EventKind.CREATED),
    (re.compile(r"validat", re.I), EventKind.SETUP),
    (re.compile(r"\b(fine-tuning job|job|training) started\b", re.I), EventKind.STARTED),
    (re.compile(r"^checkpoint created", re.I), EventKind.CHECKPOINT),
    (re.compile(r"^new fine-tuned model created", re.I), EventKind.FINISHING),
    (re.compile(r"successfully completed", re.I), EventKind.FINISHED),
    (re.compile(r"\bfailed\b", re.I), EventKind.ERROR),
    (re.compile(r"cancel", re.I), EventKind.STOPPED),
    (re.compile(r"\bpaused\b", re.I), EventKind.PAUSED),
    (re.compile(r"\bresumed\b", re.I), EventKind.RESUMED),
)


def message_kind(type_: str, message: str) -> EventKind:
    if type_ == "metrics":
        return EventKind.METRICS
    return next(
        (kind for pattern, kind in MESSAGE_KINDS if pattern.search(message)), EventKind.MESSAGE
    )


def loss_point(data: Mapping[str, object], at: datetime) -> LossPoint | None:
    """A `metrics` line's training loss at its step (NaN and infinity kept)."""
    step, loss = any_float(data.get("step")), any_float(data.get("train_loss"))
    if step is None or loss is None or not math.isfinite(step):
        return None
    return LossPoint(step=int(step), loss=loss, at=at)
