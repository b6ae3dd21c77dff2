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
from monitor.core.memory import JobState, LogCursor, Refund
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
    """Each new line is remembered, then read for what it means. Most lines mean nothing
    more: they are remembered a run at a time (one new state per run, not per line), and
    a line that may mean more is read once every line up to it is remembered."""
    alerts: list[Alert] = []
    restarts = snapshot.traits.restarts_jobs
    run: list[JobEvent] = []
    for event in fresh:
        run.append(event)
        if event.kind not in MEANINGFUL and event.level is not Level.ERROR:
            continue
        state, run = _remember(state, run), []
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
    return _remember(state, run), alerts


# The kinds of line `absorb_events` reads for more than the line itself (so do error lines).
MEANINGFUL = frozenset(
    {
        EventKind.RESTARTED,
        EventKind.REFUNDED,
        EventKind.EPOCH,
        EventKind.TRAINING,
        EventKind.EARLY_STOPPED,
    }
)


def _remember(state: JobState, run: Sequence[JobEvent]) -> JobState:
    """A run of new lines remembered: their keys (the oldest forgotten past the cap, the
    log's floor then moved up to the line that overflowed it), the last few lines for
    people, their signals, and the progress their times show."""
    if not run:
        return state
    keys = list(state.log.seen_keys)
    floor = state.log.floor
    for event in run:
        keys.append(event.key)
        if len(keys) > SEEN_KEYS_CAP:
            del keys[: -SEEN_KEYS_CAP // 2]
            floor = event.created_at
    lines = (f"{e.created_at:%Y-%m-%d %H:%M:%S} {e.type}: {e.message}".strip()[:300] for e in run)
    recent = (*state.log.recent, *lines)[-RECENT_EVENTS:]
    signals = state.signals.union(*(causes.event_signals(e) for e in run))
    progressed = max(filter(None, (state.progress.at, *(e.created_at for e in run))))
    return replace(
        state,
        log=LogCursor(seen_keys=tuple(keys), floor=floor, last_key=run[-1].key, recent=recent),
        signals=signals,
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
