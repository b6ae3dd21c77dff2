"""Deterministic ids, the fields a new job starts with, and template filling.

Job and file ids come from `Ids`, a counter hashed with the simulator's seed; ids and
tokens inside a job's payloads are hashed from the job and the step. Two simulators built
the same way serve byte-identical payloads.
"""

from __future__ import annotations

import hashlib
import string
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .script import Provider
from .wire import ctime_utc, iso_ms, iso_us, unix

_ALPHABET = string.digits + string.ascii_letters

USER_ID = "user_7c3e91a2d04b58f6"
OWNER_ADDRESS = "ml-platform@example-robotics.test"
TOGETHER_OUTPUT_ORG = "example-ml"
TOGETHER_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
OPENAI_MODEL = "gpt-4o-mini-2024-07-18"
OPENAI_ORG_ID = "org-Sim0rg4Examp1eRob0tics9"
OPENAI_ORG_SLUG = "example-robotics"

# Fields a resubmitted job shares with the job it replaces.
INHERITED = {
    "together": ("model", "training_file", "validation_file", "suffix"),
    "openai": ("model", "training_file", "validation_file", "user_provided_suffix"),
}

_LORA = {
    "type": "Lora",
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.0,
    "lora_trainable_modules": "all-linear",
}
_COSINE = {
    "lr_scheduler_type": "cosine",
    "lr_scheduler_args": {"min_lr_ratio": 0.0, "num_cycles": 0.5},
}
_AUTO = {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}


def token(key: str, length: int) -> str:
    """A base62 token of `length` characters derived from `key` (stable across runs)."""
    number = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=32).digest(), "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return "".join(chars)


class Ids:
    """Deterministic id source for new jobs and files: `seed` + a running counter."""

    def __init__(self, seed: int | str = 0) -> None:
        self.seed = str(seed)
        self._n = 0

    def _key(self) -> str:
        self._n += 1
        return f"{self.seed}:{self._n}"

    def uuid(self) -> str:
        digest = hashlib.blake2b(self._key().encode(), digest_size=16).digest()
        return str(uuid.UUID(bytes=digest, version=4))

    def token(self, length: int) -> str:
        return token(self._key(), length)

    def job_id(self, provider: Provider) -> str:
        return f"ft-{self.uuid()}" if provider == "together" else f"ftjob-{self.token(24)}"

    def file_id(self, provider: Provider) -> str:
        return f"file-{self.uuid()}" if provider == "together" else f"file-{self.token(22)}"


def job_fields(
    provider: Provider, ids: Ids, job_id: str, created: float, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """The job's fields at creation: provider defaults, then `overrides`, then derived names."""
    if provider == "together":
        return _together_fields(ids, job_id, created, overrides)
    return _openai_fields(ids, job_id, created, overrides)


# What a new job carries before its script says otherwise (ids, files and times are added
# per job). Shared between jobs: steps replace values, never mutate them.
TOGETHER_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "status": "pending", "user_id": USER_ID, "owner_address": OWNER_ADDRESS,
    "validation_file": "", "model": TOGETHER_MODEL, "model_output_name": "",
    "model_output_path": "", "trainingfile_numlines": 1800, "trainingfile_size": 2_764_800,
    "n_epochs": 3, "n_checkpoints": 1, "n_evals": 0, "batch_size": 16, "learning_rate": 1e-05,
    "lr_scheduler": _COSINE, "warmup_ratio": 0.0, "max_grad_norm": 1.0, "weight_decay": 0.0,
    "eval_steps": 0, "train_on_inputs": "auto",
    "training_method": {"method": "sft", "train_on_inputs": "auto"}, "training_type": _LORA,
    "multimodal_params": {"train_vision": False}, "token_count": 0, "param_count": 0,
    "total_price": 0, "epochs_completed": 0, "queue_depth": 0, "wandb_project_name": "together",
    "wandb_name": "", "wandb_url": "", "from_checkpoint": "", "from_hf_model": "",
    "hf_model_revision": "", "packing": True, "max_seq_length": 8192, "suffix": "sim-run",
    "random_seed": 42, "_eta": None,
})  # fmt: skip

OPENAI_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "object": "fine_tuning.job", "model": OPENAI_MODEL, "finished_at": None,
    "fine_tuned_model": None, "organization_id": OPENAI_ORG_ID, "result_files": [],
    "status": "validating_files", "validation_file": None, "hyperparameters": _AUTO,
    "trained_tokens": None, "error": None, "user_provided_suffix": "sim-run",
    "estimated_finish": None, "integrations": [],
    "method": {"type": "supervised", "supervised": {"hyperparameters": _AUTO}}, "metadata": None,
})  # fmt: skip


def _together_fields(
    ids: Ids, job_id: str, created: float, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    stamp = iso_ms(created)
    fields = {
        **TOGETHER_DEFAULTS,
        "id": job_id,
        "job_id": job_id,
        "created_at": stamp,
        "updated_at": stamp,
        "training_file": ids.file_id("together"),
        **overrides,
    }
    if not fields["model_output_name"]:
        base = fields["model"].rsplit("/", 1)[-1]
        fields["model_output_name"] = (
            f"{TOGETHER_OUTPUT_ORG}/{base}-{fields['suffix']}-{job_id[3:11]}"
        )
    if not fields["model_output_path"]:
        fields["model_output_path"] = f"s3://together-ft-output/{USER_ID}/{job_id}/final"
    return fields


def _openai_fields(
    ids: Ids, job_id: str, created: float, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    seed = int.from_bytes(job_id.encode()[-4:], "big") % 2_000_000_000
    return {
        **OPENAI_DEFAULTS,
        "id": job_id,
        "created_at": unix(created),
        "seed": seed,
        "training_file": ids.file_id("openai"),
        "_ft_model_id": ids.token(8),
        **overrides,
    }


def template_context(provider: Provider, fields: Mapping[str, Any]) -> dict[str, str]:
    """What `{…}` placeholders in a job's steps can name (see `script`)."""
    model = str(fields["model"])
    if provider == "together":
        suffix = str(fields["suffix"])
        short = str(fields["id"])[3:11]
        ft_model = str(fields["model_output_name"])
    else:
        suffix = str(fields["user_provided_suffix"] or "")
        short = str(fields["_ft_model_id"])
        ft_model = f"ft:{model}:{OPENAI_ORG_SLUG}:{suffix}:{short}"
    return {
        "id": str(fields["id"]),
        "model": model,
        "base": f"togethercomputer/{model.rsplit('/', 1)[-1]}__TOG__FT",
        "suffix": suffix,
        "short": short,
        "training_file": str(fields["training_file"]),
        "validation_file": str(fields["validation_file"] or ""),
        "ft_model": ft_model,
        "output_path": str(fields.get("model_output_path", "")),
        "user": USER_ID,
        "org": OPENAI_ORG_SLUG,
    }


class _Ctx:
    """Template values for one step at time `t`. `{randN}` is an N-character token,
    different at each use but the same every time the step is rendered (keyed by `salt`)."""

    __slots__ = ("_base", "_salt", "_t", "_uses")

    def __init__(self, base: Mapping[str, str], t: float, salt: str) -> None:
        self._base = base
        self._t = t
        self._salt = salt
        self._uses = 0

    def __getitem__(self, key: str) -> str:
        value = self._base.get(key)
        if value is not None:
            return value
        if key.startswith("rand") and key[4:].isdigit():
            self._uses += 1
            return token(f"{self._salt}:{self._uses}", int(key[4:]))
        if key == "ctime":
            return ctime_utc(self._t)
        if key == "iso":
            return iso_us(self._t)
        raise KeyError(key)


def fill(value: Any, ctx: Mapping[str, str], *, t: float, salt: str) -> Any:
    """Fill `{…}` placeholders in strings (recursing into dicts and lists)."""
    if isinstance(value, str) and "{" not in value:
        return value
    return _fill(value, _Ctx(ctx, t, salt))


def _fill(value: Any, ctx: _Ctx) -> Any:
    if isinstance(value, str):
        return value.format_map(ctx) if "{" in value else value
    if isinstance(value, Mapping):
        return {k: _fill(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ctx) for v in value]
    return value
