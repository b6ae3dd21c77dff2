"""Together AI training metrics (`GET /fine-tunes/{id}/metrics`), normalized (pure).

Each row is a flat map: `timestamp` in nanoseconds, `train/global_step`, `train/loss`, …;
eval rows (`eval/loss`) come as separate rows, even at the same step, and also carry
`train/global_step` as their x-axis. The train rows' losses feed the loss check; eval
rows are another curve and stay apart. Every value is a JSON number (the spec's
`number`, the SDK's `float`): a step of `7.0` is step 7 (provider-apis.md section 4).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from monitor.core.model import LossPoint
from monitor.providers._fields import (
    Where,
    any_float,
    as_object,
    envelope_items,
    finite_float,
    ns_time,
)

METRIC_STEP_KEYS = ("train/global_step", "eval/global_step", "global_step", "step")


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricRow:
    """One metrics row: train and eval rows come separately, even at the same step.

    `loss` keeps NaN and infinity: a NaN loss is exactly what the diff engine looks for.
    """

    time: datetime | None
    step: int | None
    split: str  # "train", "eval", or "" when the row names neither
    loss: float | None
    values: Mapping[str, float] = field(default_factory=dict)


def _split(values: Mapping[str, float]) -> str:
    """Eval rows also carry `train/global_step` and `train/epoch` as their x-axis."""
    for split in ("eval", "train"):
        if any(k.startswith(f"{split}/") and k.endswith("loss") for k in values):
            return split
    return "train" if any(k.startswith("train/") for k in values) else ""


def parse_metric_row(raw: object, where: Where) -> MetricRow:
    obj = as_object(raw, where, "")
    numbers = {k: any_float(v) for k, v in obj.items() if k != "timestamp"}
    values = {k: n for k, n in numbers.items() if n is not None}
    split = _split(values)
    return MetricRow(
        time=ns_time(obj.get("timestamp")),
        step=next((n for k in METRIC_STEP_KEYS if (n := _step(obj.get(k))) is not None), None),
        split=split,
        loss=values.get(f"{split}/loss" if split else "loss"),
        values=values,
    )


def _step(value: object) -> int | None:
    """A step from any whole JSON number (`7` or `7.0`); a fraction or a non-number is none."""
    number = finite_float(value)
    return int(number) if number is not None and number.is_integer() else None


def parse_metrics(raw: object, provider: str, job_id: str) -> list[MetricRow]:
    """`GET /fine-tunes/{id}/metrics`: `{"metrics": [...]}`, chronological; none yet if absent."""
    where = Where(provider, job_id)
    if isinstance(raw, Mapping) and raw.get("metrics") is None:
        return []
    items = envelope_items(raw, where, key="metrics")
    return [parse_metric_row(item, where.at(f"metrics[{i}].")) for i, item in enumerate(items)]


def loss_points(rows: Iterable[MetricRow]) -> list[LossPoint]:
    """The training loss per step, for the loss check; eval rows and stepless rows skipped."""
    return [
        LossPoint(step=row.step, loss=row.loss, at=row.time)
        for row in rows
        if row.split == "train" and row.step is not None and row.loss is not None
    ]
