"""Together's words, mapped onto the core's: status → phase, event type → event kind, and
restart and refund lines read by their words when their type is not one we know.

The exact wording of `JOB_RESTARTED` and `REFUND` lines is not documented
(provider-apis.md 1.5): the types are matched first (`together.KINDS`); a line of another
type is a restart when it says "restart" and names a new `ft-` job id, and a refund when
it says "refund". A restart line names the job that replaced this one by its `ft-` id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from monitor.core.model import EventKind, Phase

NEW_JOB_ID = re.compile(r"ft-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_RESTARTED = re.compile(r"restart", re.I)
_REFUND = re.compile(r"refund", re.I)


def restart_kind(message: str) -> EventKind:
    """The kind of a line whose type is unknown: restart, refund, or a plain message."""
    if _RESTARTED.search(message) and NEW_JOB_ID.search(message):
        return EventKind.RESTARTED
    if _REFUND.search(message):
        return EventKind.REFUNDED
    return EventKind.MESSAGE


def named_job(message: str, own_id: str | None) -> str | None:
    """The other job a restart line names (the line may name the job itself too)."""
    return next((m for m in NEW_JOB_ID.findall(message) if m != own_id), None)


PHASES: Mapping[str, Phase] = {
    "pending": Phase.WAITING,
    "queued": Phase.WAITING,
    "running": Phase.TRAINING,
    "compressing": Phase.FINISHING,
    "uploading": Phase.FINISHING,
    "completed": Phase.ENDED,
    "error": Phase.ENDED,
    "user_error": Phase.ENDED,
    "cancelled": Phase.ENDED,
}

_SETUP = ("model_downloading", "model_download_complete", "training_data_downloading",
          "training_data_download_complete", "validation_data_downloading",
          "validation_data_download_complete")  # fmt: skip
_FINISHING = ("model_compressing", "model_compression_complete", "model_uploading",
              "model_upload_complete", "model_uploading_to_hf",
              "model_upload_to_hf_complete")  # fmt: skip
KINDS: Mapping[str, EventKind] = {
    "job_pending": EventKind.CREATED,
    "job_start": EventKind.STARTED,
    **dict.fromkeys(_SETUP, EventKind.SETUP),
    "wandb_init": EventKind.WANDB,
    "training_start": EventKind.TRAINING,
    "epoch_complete": EventKind.EPOCH,
    "eval_complete": EventKind.EVAL,
    "checkpoint_save": EventKind.CHECKPOINT,
    "training_complete": EventKind.TRAINED,
    **dict.fromkeys(_FINISHING, EventKind.FINISHING),
    "job_complete": EventKind.FINISHED,
    "early_stopped": EventKind.EARLY_STOPPED,
    "billing_limit": EventKind.BILLING,
    "job_error": EventKind.ERROR,
    "job_user_error": EventKind.DATA_ERROR,
    "cancel_requested": EventKind.STOPPED,
    "job_stopped": EventKind.STOPPED,
    "job_restarted": EventKind.RESTARTED,
    "refund": EventKind.REFUNDED,
    "warning": EventKind.WARNING,
}


def parse_phase(raw: str) -> Phase:
    return PHASES.get(raw.strip().lower(), Phase.OTHER)


def event_kind(type_: str, message: str) -> EventKind:
    """The kind of a (lowercased) event type; an unknown type is read by its words."""
    kind = KINDS.get(type_)
    return kind if kind is not None else restart_kind(message)
