"""Together phases: intake and queue, start and downloads, training epochs, wrap-up, stop.

Each function returns the `Step`s of one phase starting at offset `at` for job `job` of a
scenario. Log lines follow the documented sample log (provider-apis.md 1.5); billing,
stop and restart lines are the simulator's own wording.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .phases import NANO, TG_STOPPED, LossFn, loss_curve
from .script import EMPTY, NOW, Ev, Step


def line(at: float, job: int, type_: str, message: str, *, level: str = "Info",
         data: Mapping[str, Any] = EMPTY, status: str | None = None,
         fields: Mapping[str, Any] = EMPTY,
         checkpoint: Mapping[str, Any] | None = None) -> Step:  # fmt: skip
    """A step that writes one event line (and maybe changes status, fields, checkpoints)."""
    event = Ev(type=type_, message=message, level=level, data=data)
    return Step(at=at, job=job, status=status, fields=fields, checkpoint=checkpoint, event=event)


def tg_intake(at: float, *, job: int = 0, queue: tuple[tuple[float, int], ...]) -> list[Step]:
    """Created (`pending`, JOB_PENDING), then `queued` with the given (offset, depth) pairs."""
    steps = [line(at, job, "JOB_PENDING", "Fine tune request created", level="")]
    for index, (offset, depth) in enumerate(queue):
        status = "queued" if index == 0 else None
        steps.append(Step(at=at + offset, job=job, status=status, fields={"queue_depth": depth}))
    return steps


def tg_start(at: float, *, job: int = 0, tokens: int = 2_457_600, validation: bool = True,
             wandb: bool = True) -> list[Step]:  # fmt: skip
    """JOB_START and the downloads (about 40 s)."""
    params = 8_030_261_248
    steps = [
        line(at, job, "JOB_START", "Job started at {ctime}", status="running",
             fields={"started_at": NOW, "queue_depth": 0}),
        line(at + 12.4, job, "MODEL_DOWNLOAD_COMPLETE",
             "Model data downloaded for {base} at {ctime}",
             data={"param_count": params}, fields={"param_count": params}),
        line(at + 19.8, job, "TRAINING_DATA_DOWNLOAD_COMPLETE",
             "Data downloaded for {base} at {iso}",
             data={"token_count": tokens}, fields={"token_count": tokens}),
    ]  # fmt: skip
    if validation:
        steps.append(line(at + 21.9, job, "VALIDATION_DATA_DOWNLOAD_COMPLETE",
                          "Validation data downloaded for {base} at {iso}",
                          data={"token_count": tokens // 10}))  # fmt: skip
    if wandb:
        url = "https://wandb.ai/example-ml/together/runs/{short}"
        steps.append(line(at + 34.9, job, "WANDB_INIT", "WandB run initialized.",
                          data={"wandb_url": url}, fields={"wandb_url": url}))  # fmt: skip
    return steps


def tg_train(at: float, *, job: int = 0, epochs: int, epoch_seconds: float,
             steps_per_epoch: int, price_per_epoch: float, checkpoints: tuple[int, ...] = (),
             evaluate: bool = False, metrics_every: int = 0, until_epoch: int | None = None,
             eta: bool | float = True, loss: LossFn | None = None,
             float_steps: bool = False) -> list[Step]:  # fmt: skip
    """TRAINING_START, then EPOCH_COMPLETE (+ EVAL_COMPLETE, CHECKPOINT_SAVE) per epoch.

    `until_epoch` stops the script after that many epochs (for jobs that end mid-training).
    `loss` gives the training loss per step (a smooth curve by default).
    `eta`: True keeps `progress.seconds_remaining` on track epoch by epoch; False leaves no
    estimate; a number sets that estimate once and never corrects it.
    `float_steps` writes metric steps as `7.0`, which the spec's `number` allows.
    """
    total = epochs * steps_per_epoch
    first_eta = epochs * epoch_seconds if eta is True else (None if eta is False else float(eta))
    steps = [line(at, job, "TRAINING_START", "Training started for model {base}",
                  data={"total_steps": total}, fields={"eta_in": first_eta})]  # fmt: skip
    loss = loss or loss_curve(f"tg{job}{total}", total)
    last_epoch = epochs if until_epoch is None else until_epoch
    for epoch in range(1, last_epoch + 1):
        fields: dict[str, Any] = {
            "epochs_completed": epoch,
            "total_price": round(price_per_epoch * epoch * NANO),
        }
        if eta is True:
            fields["eta_in"] = (epochs - epoch) * epoch_seconds
        done = epoch * steps_per_epoch
        steps += _epoch_end(at + epoch * epoch_seconds, job, epoch, done, total, fields,
                            evaluate=evaluate, checkpoint=epoch in checkpoints,
                            eval_loss=round(loss(done) * 1.1, 4))  # fmt: skip
    if metrics_every:
        step_seconds = epoch_seconds / steps_per_epoch
        for n in range(metrics_every, last_epoch * steps_per_epoch + 1, metrics_every):
            row = {
                "train/global_step": float(n) if float_steps else n,
                "train/epoch": round(n / steps_per_epoch, 4),
                "train/loss": loss(n),
                "train/grad_norm": round(0.9 + 0.3 * math.sin(n), 4),
                "train/learning_rate": round(1e-05 * (1 - n / total), 10),
            }
            steps.append(Step(at=at + n * step_seconds, job=job, metric=row))
    return steps


def _epoch_end(end: float, job: int, epoch: int, done: int, total: int, fields: dict[str, Any],
               *, evaluate: bool, checkpoint: bool, eval_loss: float) -> list[Step]:  # fmt: skip
    where = {"step": done, "total_steps": total}
    steps = []
    if evaluate:
        steps.append(line(end - 0.6, job, "EVAL_COMPLETE", f"Evaluation completed, at step {done}",
                          data=where))  # fmt: skip
        row = {"train/global_step": done, "train/epoch": float(epoch), "eval/loss": eval_loss}
        steps.append(Step(at=end - 0.6, job=job, metric=row))
    steps.append(line(end, job, "EPOCH_COMPLETE", f"Epoch completed, at step {done}", data=where,
                      fields=fields))  # fmt: skip
    if checkpoint:
        path = f"s3://together-ft-output/{{user}}/{{id}}/checkpoint-{done}"
        steps.append(line(end + 18.3, job, "CHECKPOINT_SAVE", f"Checkpoint saved at step {done}",
                          data={**where, "checkpoint_path": path},
                          checkpoint={"step": done, "path": path}))  # fmt: skip
    return steps


_REGISTRY = {
    "model_object_id": "ml_{rand16}",
    "model_object_revision_id": "rv_{rand16}",
    "model_object_name": "{ft_model}",
    "adapter_object_id": "ml_{rand16}",
    "adapter_object_revision_id": "rv_{rand16}",
    "adapter_object_name": "{ft_model}-adapter",
}


def tg_wrap_up(at: float, *, job: int = 0, total_steps: int, price_usd: float) -> list[Step]:
    """TRAINING_COMPLETE → compressing → uploading → completed (about 7 minutes)."""
    where = {"step": total_steps, "total_steps": total_steps}
    merged = {"step": total_steps, "checkpoint": "model", "checkpoint_type": "Final Merged",
              "path": "{output_path}", "object_name": "{ft_model}"}  # fmt: skip
    adapter = {"step": total_steps, "checkpoint": "adapter", "checkpoint_type": "Final Adapter",
               "path": "{output_path}/adapter", "object_name": "{ft_model}-adapter"}  # fmt: skip
    done = {"eta_in": None, "total_price": round(price_usd * NANO), **_REGISTRY}
    return [
        line(at + 17, job, "TRAINING_COMPLETE", "Training completed for {base} at {ctime}",
             data=where, fields={"eta_in": 420}),
        line(at + 21, job, "MODEL_UPLOADING", "Uploading output model"),
        line(at + 22, job, "COMPRESSING_MODEL", "Compressing output model", status="compressing",
             fields={"eta_in": 400}),
        line(at + 250, job, "MODEL_COMPRESSION_COMPLETE", "Model compression complete",
             status="uploading", fields={"eta_in": 170}),
        line(at + 400, job, "MODEL_UPLOAD_COMPLETE", "Model upload complete",
             data={"model_path": "{output_path}"}, checkpoint=merged),
        Step(at=at + 400, job=job, checkpoint=adapter),
        line(at + 407, job, "JOB_COMPLETE", "Job finished at {ctime}", status="completed",
             fields=done),
    ]  # fmt: skip


def tg_stop(at: float, *, job: int = 0, cancel: Ev, delay: float = 47.0) -> list[Step]:
    """CANCEL_REQUESTED (`cancel_requested`), then JOB_STOPPED (`cancelled`) after `delay`."""
    return [
        Step(at=at, job=job, status="cancel_requested", fields={"eta_in": None}, event=cancel),
        Step(at=at + delay, job=job, status="cancelled", event=TG_STOPPED),
    ]
