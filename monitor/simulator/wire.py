"""Wire shapes: how a job's folded state is spelled on each provider's API.

Pure functions from stored records to JSON-ready dicts, following the payloads in
`tests/fixtures/{together,openai}/`: key order, unset strings `""` and ints `0` for
Together, `null` for OpenAI, ISO-8601 with milliseconds vs unix seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

TOGETHER_TRUNCATED_KEYS = (
    "id", "status", "created_at", "updated_at", "started_at", "user_id", "owner_address",
    "total_price", "token_count", "events", "training_file", "validation_file", "packing",
    "max_seq_length", "model", "model_output_name", "suffix", "n_epochs", "n_evals",
    "n_checkpoints", "batch_size", "training_type", "training_method", "learning_rate",
    "lr_scheduler", "warmup_ratio", "max_grad_norm", "weight_decay", "random_seed",
    "wandb_project_name", "wandb_name", "from_checkpoint", "from_hf_model",
    "hf_model_revision", "progress",
)  # fmt: skip

TOGETHER_FULL_KEYS = (
    "id", "status", "user_id", "training_file", "validation_file", "model",
    "model_output_name", "model_output_path", "trainingfile_numlines", "trainingfile_size",
    "created_at", "updated_at", "started_at", "n_epochs", "n_checkpoints", "n_evals",
    "batch_size", "learning_rate", "lr_scheduler", "warmup_ratio", "max_grad_norm",
    "weight_decay", "eval_steps", "train_on_inputs", "training_method", "training_type",
    "multimodal_params", "job_id", "events", "token_count", "param_count", "total_price",
    "epochs_completed", "queue_depth", "wandb_project_name", "wandb_url", "from_checkpoint",
    "from_hf_model", "hf_model_revision", "progress", "model_object_id",
    "model_object_revision_id", "model_object_name", "adapter_object_id",
    "adapter_object_revision_id", "adapter_object_name",
)  # fmt: skip

OPENAI_JOB_KEYS = (
    "object", "id", "model", "created_at", "finished_at", "fine_tuned_model",
    "organization_id", "result_files", "status", "validation_file", "training_file",
    "hyperparameters", "trained_tokens", "error", "user_provided_suffix", "seed",
    "estimated_finish", "integrations", "method", "metadata",
)  # fmt: skip

_TOGETHER_KNOWN = frozenset(TOGETHER_TRUNCATED_KEYS) | frozenset(TOGETHER_FULL_KEYS)
_OPENAI_KNOWN = frozenset(OPENAI_JOB_KEYS)

TOGETHER_TERMINAL = frozenset({"completed", "cancelled", "error", "user_error"})
OPENAI_TERMINAL = frozenset({"succeeded", "failed", "cancelled"})

# The OpenAPI spelling of Together's event types differs from the wire value in one case.
_LOWER_TYPE = {"COMPRESSING_MODEL": "model_compressing"}
_LOWER_LEVEL = {"": "info", "Info": "info", "Warning": "warning", "Error": "error"}
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


# -- time formats -------------------------------------------------------------------------


def iso_ms(t: float) -> str:
    """`2026-03-09T14:09:37.204Z` (Together)."""
    ms_total = round(t * 1000)
    secs, ms = divmod(ms_total, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ms:03d}Z"


def iso_us(t: float) -> str:
    """`2026-03-09T14:09:56.101000` (no zone), as Together's data-download lines print it."""
    us_total = round(t * 1_000_000)
    secs, us = divmod(us_total, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{us:06d}"


def ctime_utc(t: float) -> str:
    """`Mon Mar  9 14:09:37 UTC 2026`, as `date` prints it."""
    g = time.gmtime(int(t))
    return (
        f"{_DAYS[g.tm_wday]} {_MONTHS[g.tm_mon - 1]} {g.tm_mday:>2} "
        f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} UTC {g.tm_year}"
    )


def unix(t: float) -> int:
    return int(t)


def nanos(t: float) -> int:
    return round(t * 1000) * 1_000_000


# -- Together -----------------------------------------------------------------------------


def together_progress(eta: float | None, stage_start: float | None) -> dict[str, Any]:
    """`progress` as Together's own CLIs read it: the current stage's expected length,
    counted from the stage's `started_at` (so it stays put while the stage runs)."""
    if eta is None or stage_start is None:
        return {"estimate_available": False, "seconds_remaining": 0}
    return {"estimate_available": True, "seconds_remaining": max(0, round(eta - stage_start))}


def together_job(
    fields: Mapping[str, Any], now: float, *, events: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """Full job (`events` given) or the truncated list/cancel shape (`events` None)."""
    keys = TOGETHER_TRUNCATED_KEYS if events is None else TOGETHER_FULL_KEYS
    out: dict[str, Any] = {}
    for key in keys:
        if key == "events":
            out[key] = [] if events is None else events
        elif key == "progress":
            out[key] = together_progress(fields.get("_eta"), fields.get("_stage_t"))
        elif key in fields:
            out[key] = fields[key]
    for key, value in fields.items():
        if key not in _TOGETHER_KNOWN and not key.startswith("_"):
            out[key] = value
    return out


def together_event(
    created: str,
    type_: str,
    level: str,
    message: str,
    data: Mapping[str, Any],
    *,
    lowercase: bool,
) -> dict[str, Any]:
    """A FineTuneEvent; `lowercase` serves the OpenAPI spelling of type and level."""
    if lowercase:
        type_ = _LOWER_TYPE.get(type_, type_.lower())
        level = _LOWER_LEVEL.get(level, level.lower())
    out: dict[str, Any] = {
        "object": "fine-tune-event",
        "created_at": created,
        "level": level,
        "message": message,
        "type": type_,
        "param_count": 0,
        "token_count": 0,
        "total_steps": 0,
        "wandb_url": "",
        "step": 0,
        "checkpoint_path": "",
        "model_path": "",
        "training_offset": 0,
        "hash": "",
    }
    out.update(data)
    return out


# -- OpenAI -------------------------------------------------------------------------------

_NULL_ERROR = {"code": None, "message": None, "param": None}


def openai_job(fields: Mapping[str, Any], *, error_placeholder: bool) -> dict[str, Any]:
    out: dict[str, Any] = {key: fields.get(key) for key in OPENAI_JOB_KEYS}
    if out["error"] is None and error_placeholder and fields.get("status") != "failed":
        out["error"] = dict(_NULL_ERROR)
    for key, value in fields.items():
        if key not in _OPENAI_KNOWN and not key.startswith("_"):
            out[key] = value
    return out


def openai_event(
    id_: str, created: int, type_: str, level: str, message: str, data: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job.event",
        "id": id_,
        "created_at": created,
        "level": level,
        "message": message,
        "data": dict(data),
        "type": type_,
    }


def openai_list(data: list[Any], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more}


# -- errors -------------------------------------------------------------------------------


def error_body(
    message: str, type_: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
