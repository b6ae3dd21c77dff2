"""Spelling one step of a job's script out in the provider's wire form.

Pure functions of (job, step): the step's time, the job's template context, and hashes
of the job and step for ids and `{randN}` tokens, so rendering twice gives the same bytes
and nothing needs to be stored until an endpoint asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .defaults import fill, token
from .script import NOW
from .wire import iso_ms, nanos, openai_event, together_event, unix

if TYPE_CHECKING:
    from .timeline import Job, MStep


def _salt(job: Job, step: MStep, part: str) -> str:
    return f"{job.salt}:{step.seq}:{part}"


def fields(job: Job, step: MStep) -> dict[str, Any]:
    """The job fields a step sets. `eta_in` and `NOW` become times (see `script`)."""
    together = job.provider == "together"
    out: dict[str, Any] = {}
    templated: dict[str, Any] = {}
    for key, value in step.source.fields.items():
        if key == "eta_in":
            eta = None if value is None else step.t + float(value) * job.scale
            if together:
                out["_eta"] = eta
            else:
                out["estimated_finish"] = None if eta is None else unix(eta)
        elif value is NOW:
            out[key] = iso_ms(step.t) if together else unix(step.t)
        else:
            templated[key] = value
    if templated:
        out.update(fill(templated, job.ctx, t=step.t, salt=_salt(job, step, "f")))
    return out


def item_id(job: Job, step: MStep, kind: str) -> str:
    """OpenAI ids of events (`ftevent-…`) and checkpoints (`ftckpt_…`)."""
    prefix = "ftevent-" if kind == "event" else "ftckpt_"
    return prefix + token(_salt(job, step, kind), 24)


def event(job: Job, step: MStep, *, lowercase: bool = False) -> dict[str, Any]:
    ev = step.source.event
    assert ev is not None
    salt = _salt(job, step, "e")
    message = fill(ev.message, job.ctx, t=step.t, salt=salt)
    data = fill(ev.data, job.ctx, t=step.t, salt=salt) if ev.data else {}
    if job.provider == "together":
        return together_event(iso_ms(step.t), ev.type, ev.level, message, data, lowercase=lowercase)
    return openai_event(item_id(job, step, "event"), unix(step.t), ev.type, ev.level, message, data)


def checkpoint(job: Job, step: MStep) -> dict[str, Any]:
    spec: dict[str, Any] = fill(
        step.source.checkpoint or {}, job.ctx, t=step.t, salt=_salt(job, step, "c")
    )
    number = int(spec.get("step", spec.get("step_number", 0)))
    ctx = job.ctx
    if job.provider == "together":
        path = f"s3://together-ft-output/{ctx['user']}/{ctx['id']}/checkpoint-{number}"
        rand = f"{job.salt}:{step.seq}"
        return {
            "step": number,
            "created_at": iso_ms(step.t),
            "path": spec.get("path", path),
            "checkpoint_type": spec.get("checkpoint_type", "Intermediate"),
            "checkpoint": spec.get("checkpoint", "model"),
            "object_id": spec.get("object_id", "ml_" + token(f"{rand}:ml", 16)),
            "object_revision_id": spec.get("object_revision_id", "rv_" + token(f"{rand}:rv", 16)),
            "object_name": spec.get("object_name", f"{ctx['ft_model']}-{number}"),
        }
    name = spec.get("fine_tuned_model_checkpoint", f"{ctx['ft_model']}:ckpt-step-{number}")
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": item_id(job, step, "checkpoint"),
        "created_at": unix(step.t),
        "fine_tuned_model_checkpoint": name,
        "fine_tuning_job_id": job.id,
        "metrics": spec.get("metrics", {"step": number}),
        "step_number": number,
    }


def metric(job: Job, step: MStep) -> dict[str, Any]:
    row = step.source.metric or {}
    return {"timestamp": nanos(step.t), **fill(row, job.ctx, t=step.t, salt=_salt(job, step, "m"))}
