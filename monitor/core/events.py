"""Folding a job's new log lines into its state (pure).

Lines already read are skipped (by key, and by the log's floor once keys were
compacted); each new line leaves its signals, its progress time and, for restart,
refund, epoch, training and early-stopping lines, what they mean for the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from monitor.core import causes, estimates, outcomes
from monitor.core.alerts import (
    Alert,
)
from monitor.core.memory import JobState, LogCursor, Refund, Signal
from monitor.core.model import EventKind, JobEvent, JobSnapshot, Level

SEEN_KEYS_CAP = 400


RECENT_EVENTS = 5


REFUNDS_CAP = 20  # refund lines kept per job: a real job has one


def unseen(state: JobState, events: Sequence[JobEvent]) -> list[JobEvent]:
    seen = set(state.log.seen_keys)
    floor = state.log.floor
    fresh = [e for e in events if e.key not in seen and (floor is None or e.created_at >= floor)]
    fresh.sort(key=lambda e: e.created_at)
    return fresh


def absorb_events(
    state: JobState, fresh: Sequence[JobEvent], snapshot: JobSnapshot
) -> tuple[JobState, list[Alert]]:
    alerts: list[Alert] = []
    restarts = snapshot.traits.restarts_jobs
    for event in fresh:
        signals = causes.event_signals(event)
        state = _remember_event(state, event, signals)
        if restarts and event.kind is EventKind.RESTARTED and state.restart.successor is None:
            target = event.names_job if event.names_job != state.job_id else None
            if target:
                link = replace(state.restart, successor=target, awaiting_since=None)
                state = replace(state, restart=link)
                state, raised = outcomes.raise_restarted(state, target, event.created_at)
                alerts += raised
            else:
                link = replace(state.restart, awaiting_since=event.created_at)
                state = replace(state, restart=link)
        if event.kind is EventKind.REFUNDED:
            state = _book_refund(state, event)
            state, raised = outcomes.raise_refund(state, event)
            alerts += raised
        if event.kind is EventKind.EPOCH:
            state = estimates.first_epoch_estimate(state, event, snapshot)
        if event.kind is EventKind.TRAINING and state.progress.training_started_at is None:
            progress = replace(state.progress, training_started_at=event.created_at)
            state = replace(state, progress=progress)
        if event.kind is EventKind.EARLY_STOPPED:
            state = replace(state, early_stop=estimates.early_stop_text(event.data))
        if event.level is Level.ERROR and event.message:
            state = replace(state, error_detail=event.message)
    return state, alerts


def _remember_event(state: JobState, event: JobEvent, signals: frozenset[Signal]) -> JobState:
    keys = (*state.log.seen_keys, event.key)
    floor = state.log.floor
    if len(keys) > SEEN_KEYS_CAP:
        # Compact: forget the oldest keys, remember how far the log has been read.
        keys = keys[-SEEN_KEYS_CAP // 2 :]
        floor = event.created_at
    line = f"{event.created_at:%Y-%m-%d %H:%M:%S} {event.type}: {event.message}".strip()
    recent = (*state.log.recent, line[:300])[-RECENT_EVENTS:]
    progressed = max(filter(None, (state.progress.at, event.created_at)))
    return replace(
        state,
        log=LogCursor(seen_keys=keys, floor=floor, last_key=event.key, recent=recent),
        signals=state.signals | signals,
        progress=replace(state.progress, at=progressed),
    )


def _book_refund(state: JobState, event: JobEvent) -> JobState:
    """Every refund line, with its amount when it states one, for the cost ledger; a line
    already booked (same key) is not booked again."""
    if any(r.key == event.key for r in state.refunds):
        return state
    amount = causes.refund_amount(event.message)
    refund = Refund(key=event.key, amount_usd=amount, at=event.created_at)
    return replace(state, refunds=(*state.refunds, refund)[-REFUNDS_CAP:])
