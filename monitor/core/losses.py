"""The loss check (pure): a NaN or infinite loss once per job, and a jump past
`loss_spike_factor` × the recent average once per step.

Readings come from a metrics endpoint or from metrics log lines; each step is checked
once, however often it is read again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from monitor.core import outcomes
from monitor.core.alerts import (
    Alert,
    Cause,
    FactValue,
    Kind,
    Severity,
)
from monitor.core.job_alert import job_alert
from monitor.core.memory import Fact, JobState, LossMemory, evolve
from monitor.core.model import LossPoint
from monitor.core.settings import Thresholds

LOSS_WINDOW = 10


def absorb_losses(
    state: JobState, points: Sequence[LossPoint], now: datetime, thresholds: Thresholds
) -> tuple[JobState, list[Alert]]:
    """Loss readings from a metrics endpoint, each step checked once however often read.
    The loss memory is carried along and stored once, with the last step read."""
    alerts: list[Alert] = []
    memory = state.loss
    for point in sorted(points, key=lambda p: p.step):
        if memory.checked_step is not None and point.step <= memory.checked_step:
            continue
        state, memory, raised = _loss_reading(
            state, memory, point.loss, str(point.step), point.at or now, thresholds
        )
        memory = replace(memory, checked_step=point.step)
        alerts += raised
    return evolve(state, loss=memory), alerts


def _loss_reading(
    state: JobState,
    memory: LossMemory,
    loss: float,
    step_text: str,
    at: datetime,
    thresholds: Thresholds,
) -> tuple[JobState, LossMemory, list[Alert]]:
    """NaN or infinity once per job; a jump past `loss_spike_factor` × the recent average.
    Returns the state (its facts), the loss memory and the alerts."""
    facts: dict[str, FactValue] = {"step": step_text, "loss": loss}
    if not math.isfinite(loss):
        if Fact.LOSS_NAN in state.facts:
            return state, memory, []
        state = outcomes.with_fact(state, Fact.LOSS_NAN)
        return (
            state,
            memory,
            [
                job_alert(
                    state,
                    Kind.LOSS_ANOMALY,
                    Severity.FAILURE,
                    "loss_nan",
                    at,
                    f"loss became {loss} at step {step_text}",
                    cause=Cause.LOSS_NAN,
                    facts=facts,
                )
            ],
        )
    recent = [v for v in memory.recent if math.isfinite(v)]
    kept = replace(memory, recent=(*memory.recent, loss)[-LOSS_WINDOW:])
    if len(recent) < 3:
        return state, kept, []
    average = sum(recent) / len(recent)
    spiked = loss >= average * thresholds.loss_spike_factor
    if average <= 0 or not spiked or step_text in memory.spiked_steps:
        return state, kept, []
    memory = replace(
        memory,
        recent=tuple(recent[-LOSS_WINDOW:]),
        spiked_steps=memory.spiked_steps | {step_text},
    )
    fact = f"loss_spike:{step_text}"
    facts["recent_average"] = round(average, 4)
    return (
        state,
        memory,
        [
            job_alert(
                state,
                Kind.LOSS_ANOMALY,
                Severity.WARNING,
                fact,
                at,
                f"loss spiked to {loss:g} at step {step_text} (recent average {average:.3g})",
                cause=Cause.LOSS_SPIKE,
                facts=facts,
            )
        ],
    )
