"""OpenAI phases: intake and validation, start, per-step metrics, checkpoints, success.

Message texts follow provider-apis.md 2.5; metrics events carry `data` with `step`,
`total_steps`, `train_loss`, `train_mean_token_accuracy` (+ validation figures).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .phases import OA_STARTED, LossFn, accuracy, loss_curve
from .script import EMPTY, NOW, Ev, Step


def say(at: float, job: int, message: str, *, level: str = "info", status: str | None = None,
        fields: Mapping[str, Any] = EMPTY) -> Step:  # fmt: skip
    """A step that writes one `message` event (and maybe changes status and fields)."""
    event = Ev(type="message", level=level, message=message)
    return Step(at=at, job=job, status=status, fields=fields, event=event)


def oa_intake(at: float = 0.0, *, job: int = 0, validation: bool = True,
              queued_after: float | None = 44.0) -> list[Step]:  # fmt: skip
    """Created (`validating_files`), then `queued` once the files are validated
    (`queued_after=None`: the script decides what follows the validation)."""
    files = "{training_file}"
    if validation:
        files += " and validation file: {validation_file}"
    steps = [
        say(at, job, "Created fine-tuning job: {id}"),
        say(at, job, f"Validating training file: {files}"),
    ]
    if queued_after is not None:
        steps.append(say(at + queued_after, job, "Files validated, moving job to queued state",
                         status="queued"))  # fmt: skip
    return steps


HYPER = {"batch_size": 4, "learning_rate_multiplier": 1.8, "n_epochs": 3}


def oa_start(at: float, *, job: int = 0, eta_in: float | None) -> list[Step]:
    """`running`, concrete hyperparameters, `estimated_finish`."""
    method = {"type": "supervised", "supervised": {"hyperparameters": HYPER}}
    fields = {"hyperparameters": HYPER, "method": method, "eta_in": eta_in}
    return [Step(at=at, job=job, status="running", fields=fields, event=OA_STARTED)]


def oa_metrics(
    at: float,
    *,
    job: int = 0,
    first: int,
    last: int,
    total: int,
    step_seconds: float,
    loss: LossFn,
    valid_every: int = 0,
    every: int = 1,
) -> list[Step]:
    """A `metrics` event per step (or per `every` steps and the last), `Step n/total:
    training loss=…` (+ validation)."""
    steps = []
    for n in range(first, last + 1):
        if n % every and n != last:
            continue
        value = loss(n)
        data: dict[str, Any] = {
            "step": n,
            "train_loss": value,
            "total_steps": total,
            "train_mean_token_accuracy": accuracy(value),
        }
        message = f"Step {n}/{total}: training loss={value:.2f}"
        if valid_every and (n % valid_every == 0 or n == total):
            valid = round(value * 1.18, 6)
            data |= {"valid_loss": valid, "valid_mean_token_accuracy": accuracy(valid)}
            message += f", validation loss={valid:.2f}"
            if n == total:
                full = round(value * 1.25, 6)
                data |= {"full_valid_loss": full, "full_valid_mean_token_accuracy": accuracy(full)}
                message += f", full validation loss={full:.2f}"
        steps.append(
            Step(
                at=at + (n - first + 1) * step_seconds,
                job=job,
                event=Ev(type="metrics", level="info", message=message, data=data),
            )
        )
    return steps


def oa_checkpoint(at: float, *, job: int = 0, step: int, loss: LossFn, final: bool = False) -> Step:
    value = loss(step)
    metrics = {"step": step, "train_loss": value, "train_mean_token_accuracy": accuracy(value)}
    spec: dict[str, Any] = {"step_number": step, "metrics": metrics}
    if final:
        spec["fine_tuned_model_checkpoint"] = "{ft_model}"
    return Step(at=at, job=job, checkpoint=spec)


def oa_succeed(at: float, *, job: int = 0, checkpoint_steps: tuple[int, ...],
               trained_tokens: int) -> list[Step]:  # fmt: skip
    """Checkpoint lines, the new model, `succeeded` with its result file and token count."""
    done = {"fine_tuned_model": "{ft_model}", "finished_at": NOW, "trained_tokens": trained_tokens,
            "result_files": ["file-{rand22}"], "eta_in": None}  # fmt: skip
    snapshot = "Checkpoint created at step {n} with Snapshot ID: {{ft_model}}:ckpt-step-{n}"
    return [
        *(say(at, job, snapshot.format(n=n)) for n in checkpoint_steps),
        say(at, job, "New fine-tuned model created: {ft_model}"),
        say(at + 6, job, "The job has successfully completed", status="succeeded", fields=done),
    ]


def oa_run(
    at: float,
    *,
    job: int = 0,
    total: int,
    step_seconds: float,
    epochs: int = 3,
    loss: LossFn | None = None,
    eta_in: float | None = None,
    valid_every: int = 0,
    trained_tokens: int = 48_000,
    every: int = 1,
) -> list[Step]:
    """running → metrics every step (or `every` steps), a checkpoint per epoch → succeeded."""
    loss = loss or loss_curve(f"oa{job}{total}", total)
    per_epoch = total // epochs
    train_end = at + total * step_seconds
    steps = [
        *oa_start(at, job=job, eta_in=eta_in if eta_in is not None else total * step_seconds + 40),
        *oa_metrics(
            at,
            job=job,
            first=1,
            last=total,
            total=total,
            step_seconds=step_seconds,
            loss=loss,
            valid_every=valid_every,
            every=every,
        ),
    ]
    marks = tuple(per_epoch * e for e in range(1, epochs))
    steps += [oa_checkpoint(at + n * step_seconds + 2, job=job, step=n, loss=loss) for n in marks]
    steps.append(oa_checkpoint(train_end + 20, job=job, step=total, loss=loss, final=True))
    return steps + oa_succeed(
        train_end + 25, job=job, checkpoint_steps=marks, trained_tokens=trained_tokens
    )
