"""The diff engine: (previous state, snapshot, events, now, thresholds) -> (state, alerts).

Pure: no I/O, no clock, no logging; time comes in as `now`. This module folds one poll
of one job in, in a fixed order; each step lives beside it (DESIGN section 3):

- `events`: the new log lines (seen once, by key), their signals and what they mean;
- `losses`: the loss check (NaN once per job, a spike once per step);
- `outcomes`: the one-time facts from the status and the log (started, paused, resumed,
  succeeded, failed, cancelled, restarted, refunded), each raised at most once whatever
  order or grouping of polls revealed it, so polling slower loses nothing;
- `job_conditions`: queue stall, progress stall, estimate overrun, which fire, remind
  and resolve (`conditions`); provider health and restart chains across jobs are
  `provider_poll`'s.

A fetch error is never a change: only complete polls come here. With `silent=True` (a
baseline poll) facts are recorded without alerts. The provider normalizes: nothing here
reads a provider's own status word or event type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from monitor.core import conditions, estimates, job_conditions, outcomes
from monitor.core.alerts import (
    KIND_HINTS,
    Alert,
    Kind,
    Severity,
)
from monitor.core.events import absorb_events, unseen
from monitor.core.job_alert import job_alert
from monitor.core.losses import absorb_losses
from monitor.core.memory import Fact, JobState, Progress, RestartLink, evolve
from monitor.core.model import JobEvent, JobSnapshot, LossPoint, Status
from monitor.core.settings import Thresholds

PATH_CAP = 16


def diff(
    previous: JobState | None,
    snapshot: JobSnapshot,
    events: Sequence[JobEvent],
    now: datetime,
    thresholds: Thresholds,
    *,
    silent: bool = False,
    restart_of: str | None = None,
    origin: JobState | None = None,
    losses: Sequence[LossPoint] = (),
) -> tuple[JobState, list[Alert]]:
    """Fold one poll of one job into its state and return the alerts it raises.

    `origin` is the job a new one continues (a restart): its job fields fill the ones the
    provider does not show for the successor, so routes match both alike."""
    state = previous or _first_state(snapshot, now, restart_of, origin)
    state = absorb_snapshot(state, snapshot, now)
    fresh = unseen(state, events)
    state, event_alerts = absorb_events(state, fresh, snapshot)
    readings = [*losses, *(e.loss for e in fresh if e.loss is not None)]
    state, loss_alerts = absorb_losses(state, readings, now, thresholds)
    state = estimates.estimate_in_force(state, snapshot)
    state, fact_alerts = outcomes.status_facts(state, snapshot, now)
    alerts = [*fact_alerts, *event_alerts, *loss_alerts]
    state, condition_alerts = job_conditions.step(state, now, thresholds)
    if silent:
        alerts = []
    alerts += condition_alerts
    if alerts:
        state = replace(state, last_alert=f"{alerts[-1].kind} {now.isoformat()}")
    return state, alerts


def vanished(
    state: JobState, now: datetime, thresholds: Thresholds
) -> tuple[JobState, list[Alert]]:
    """A tracked, unfinished job now answers 404: say so once and stop watching it."""
    if Fact.VANISHED in state.facts:
        return state, []
    state = replace(state, facts=state.facts | {Fact.VANISHED}, status=Status.UNKNOWN)
    alert = job_alert(
        state,
        Kind.VANISHED,
        Severity.WARNING,
        "vanished",
        now,
        "no longer found (the provider answers 404)",
        hint=KIND_HINTS[Kind.VANISHED],
    )
    opened, resolved = conditions.step(
        state.conditions, [], now, thresholds.repeat, job_conditions.alert_maker(state, now)
    )
    return replace(state, conditions=opened), [alert, *resolved]


def link_restart(old: JobState, new_job: str, now: datetime) -> tuple[JobState, list[Alert]]:
    """Link an old job to the job that replaced it (found by id or by its likeness)."""
    if old.restart.successor is not None:
        return old, []
    old = replace(old, restart=replace(old.restart, successor=new_job, awaiting_since=None))
    return outcomes.raise_restarted(old, new_job, now)


def _first_state(
    snapshot: JobSnapshot, now: datetime, restart_of: str | None, origin: JobState | None
) -> JobState:
    return JobState(
        model=origin.model if origin else None,
        suffix=origin.suffix if origin else None,
        wandb_project=origin.wandb_project if origin else None,
        metadata=origin.metadata if origin else {},
        provider=snapshot.provider,
        job_id=snapshot.id,
        kind=snapshot.kind,
        status=snapshot.status,
        raw_status=snapshot.raw_status,
        created_at=snapshot.created_at,
        phase=snapshot.phase,
        link=snapshot.traits.link(snapshot.id) if snapshot.traits.dashboard_url else None,
        restart=RestartLink(of=restart_of),
        status_path=((snapshot.raw_status, snapshot.updated_at or now),),
        progress=Progress(at=snapshot.updated_at or snapshot.created_at),
    )


def absorb_snapshot(state: JobState, snapshot: JobSnapshot, now: datetime) -> JobState:
    """Fold the snapshot in. What a job list omits (Together's list lacks the queue
    position and step counts) keeps its last known value rather than reading as a change.
    A snapshot that changes nothing (observed at the time already noted) gives back
    `state` itself (`quiet`)."""
    path = state.status_path
    if snapshot.raw_status != state.raw_status or not path:
        path = (*path, (snapshot.raw_status, snapshot.updated_at or now))[-PATH_CAP:]
    before = state.progress
    steps = known(snapshot.steps_completed, before.step)
    epochs = known(snapshot.epochs_completed, before.epochs)
    progressed = snapshot.status is Status.RUNNING and (steps, epochs) != (
        before.step,
        before.epochs,
    )
    progress = evolve(
        before,
        step=steps,
        total_steps=snapshot.total_steps or before.total_steps,
        epochs=epochs,
        n_epochs=snapshot.n_epochs or before.n_epochs,
        queue_depth=known(snapshot.queue_depth, before.queue_depth)
        if snapshot.status.waiting
        else None,
        at=now if progressed else before.at,
    )
    return evolve(
        state,
        status=snapshot.status,
        raw_status=snapshot.raw_status,
        phase=snapshot.phase,
        status_path=path,
        model=snapshot.model or state.model,
        output_name=snapshot.output_name or state.output_name,
        training_file=snapshot.training_file or state.training_file,
        suffix=snapshot.suffix or state.suffix,
        wandb_project=snapshot.wandb_project or state.wandb_project,
        metadata=snapshot.metadata or state.metadata,
        started_at=snapshot.started_at or state.started_at,
        finished_at=snapshot.finished_at or state.finished_at,
        progress=progress,
        price_usd=snapshot.price_usd if snapshot.price_usd is not None else state.price_usd,
        peak_price_usd=_peak(state.peak_price_usd, snapshot.price_usd),
        trained_tokens=known(snapshot.trained_tokens, state.trained_tokens),
        early_stop=estimates.snapshot_early_stop(snapshot) or state.early_stop,
        error_detail=_error_text(snapshot) or state.error_detail,
        marks=evolve(state.marks, observed_at=now),
    )


def known(value: int | None, before: int | None) -> int | None:
    return value if value is not None else before


def _peak(before: float | None, price: float | None) -> float | None:
    """The highest price the provider has stated for the job (`ledger`: what was charged
    before a refund lowered it)."""
    stated = [p for p in (before, price) if p is not None]
    return max(stated) if stated else None


def _error_text(snapshot: JobSnapshot) -> str | None:
    error = snapshot.error
    if error is None:
        return None
    parts = [p for p in (error.message, f"({error.param})" if error.param else None) if p]
    return " ".join(parts) or error.code
