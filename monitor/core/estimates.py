"""The estimate a job is measured against, and its early-stopping note (pure).

DESIGN section 3: the provider's estimated finish while the job trains (the provider
module has already anchored it: Together's training stage `started_at +
seconds_remaining`, OpenAI's `estimated_finish` unless null or <= 0), else the first
epoch's duration × the number of epochs. Outside the training phase nothing is measured
against an estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from monitor.core.memory import JobState, evolve
from monitor.core.model import JobEvent, JobSnapshot, Phase


def first_epoch_estimate(state: JobState, event: JobEvent, snapshot: JobSnapshot) -> JobState:
    """The fallback estimate (DESIGN section 3): first-epoch duration × number of epochs,
    from the line that started training to the first epoch's line. Kept apart from the
    provider's estimate, so a provider estimate that goes away leaves this one standing."""
    if state.progress.epoch_eta is not None or state.progress.training_started_at is None:
        return state
    n_epochs = snapshot.n_epochs or state.progress.n_epochs
    if not n_epochs:
        return state
    first_epoch = event.created_at - state.progress.training_started_at
    eta = state.progress.training_started_at + first_epoch * n_epochs
    return replace(state, progress=replace(state.progress, epoch_eta=eta))


def estimate_in_force(state: JobState, snapshot: JobSnapshot) -> JobState:
    """The estimate in force: the provider's while it gives one, else the first-epoch one.

    The provider's estimate arrives already anchored (Together: the training stage's
    `started_at + seconds_remaining`, so it stays put from poll to poll; OpenAI:
    `estimated_finish`, none when null or <= 0). It is read only in the training phase:
    an estimate given while queued says nothing about training, and one left over from
    training says nothing about the stages that package the model after it.
    """
    return evolve(state, progress=evolve(state.progress, eta=eta_in_force(state, snapshot)))


def eta_in_force(state: JobState, snapshot: JobSnapshot) -> datetime | None:
    """The estimated finish `estimate_in_force` keeps."""
    training = snapshot.phase is Phase.TRAINING
    return (snapshot.estimated_finish or state.progress.epoch_eta) if training else None


def early_stop_text(data: Mapping[str, float | int | str | None]) -> str:
    """`at step N (best metric X)` from an early-stopping line's normalized `best_step`
    and `best_metric` (the provider maps its own field names onto these)."""
    step = data.get("best_step") or data.get("step")
    metric = data.get("best_metric")
    text = f"at step {step}" if step is not None else "before its last step"
    if isinstance(metric, int | float):
        text += f" (best metric {metric:.4g})"
    return text


def snapshot_early_stop(snapshot: JobSnapshot) -> str | None:
    if not snapshot.early_stopped:
        return None
    return early_stop_text(
        {"best_step": snapshot.early_stop_step, "best_metric": snapshot.early_stop_metric}
    )
