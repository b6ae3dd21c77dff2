"""The diff engine: (previous state, snapshot, events, now, thresholds) -> (state, alerts).

Pure: no I/O, no clock, no logging; time comes in as `now`. The rules (DESIGN section 3):

- A fetch error is never a change: this module only ever sees complete polls.
- One alert per fact. Every one-time fact (started, succeeded, failed, cancelled,
  restarted, refunded, loss_nan, …) is recorded in `JobState.facts` and raised at most
  once, whatever order or grouping of polls revealed it. Facts come from the status and
  from the event log, so polling slower loses nothing (queued -> succeeded between two
  polls still yields `started` when the log shows the start).
- Conditions (stalls, overruns) fire, remind every `repeat`, and resolve: see
  `conditions.py`; provider health and restart chains across jobs live in `provider_poll.py`.
- First sight: with `silent=True` (a baseline poll) facts are recorded without alerts.
- Restart chains: a job's `restart_of` names the original job; its alerts carry it.
  Only providers whose traits say they restart jobs start one (OpenAI never does).
- The provider normalizes: this module reads event kinds, phases, traits and anchored
  estimates, never a provider's own status word or event type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from monitor.core import causes, conditions, estimates
from monitor.core.alerts import (
    CAUSE_PHRASES,
    HINTS,
    KIND_HINTS,
    Alert,
    Cause,
    ConditionState,
    FactValue,
    Kind,
    Severity,
)
from monitor.core.durations import human_duration
from monitor.core.model import (
    Condition,
    EventKind,
    Fact,
    JobEvent,
    JobSnapshot,
    JobState,
    Level,
    LogCursor,
    LossPoint,
    Phase,
    Progress,
    Refund,
    RestartLink,
    Signal,
    Status,
)
from monitor.core.settings import Thresholds

NO_RESTART_HINT = (
    "Provider-side error, usually transient. This provider does not restart jobs: "
    "resubmit, and contact support with the job id if it repeats."
)
SEEN_KEYS_CAP = 400
RECENT_EVENTS = 5
LOSS_WINDOW = 10
PATH_CAP = 16
REFUNDS_CAP = 20  # refund lines kept per job: a real job has one
PROVIDER_CANCELS = frozenset({Cause.BILLING_LIMIT, Cause.INSUFFICIENT_BALANCE, Cause.WANDB_AUTH})


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
    state = _absorb_snapshot(state, snapshot, now)
    fresh = _unseen(state, events)
    state, event_alerts = _absorb_events(state, fresh, snapshot)
    readings = [*losses, *(e.loss for e in fresh if e.loss is not None)]
    state, loss_alerts = _absorb_losses(state, readings, now, thresholds)
    state = estimates.estimate_in_force(state, snapshot)
    state, fact_alerts = _status_facts(state, snapshot, now)
    alerts = [*fact_alerts, *event_alerts, *loss_alerts]
    state, condition_alerts = _conditions(state, now, thresholds)
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
    alert = _alert(
        state,
        Kind.VANISHED,
        Severity.WARNING,
        "vanished",
        now,
        "no longer found (the provider answers 404)",
        hint=KIND_HINTS[Kind.VANISHED],
    )
    opened, resolved = conditions.step(
        state.conditions, [], now, thresholds.repeat, _condition_alert_maker(state, now)
    )
    return replace(state, conditions=opened), [alert, *resolved]


def link_restart(old: JobState, new_job: str, now: datetime) -> tuple[JobState, list[Alert]]:
    """Link an old job to the job that replaced it (found by id or by its likeness)."""
    if old.restart.successor is not None:
        return old, []
    old = replace(old, restart=replace(old.restart, successor=new_job, awaiting_since=None))
    return _raise_restarted(old, new_job, now)


# -- first sight -------------------------------------------------------------------------


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


# -- events ------------------------------------------------------------------------------


def _unseen(state: JobState, events: Sequence[JobEvent]) -> list[JobEvent]:
    seen = set(state.log.seen_keys)
    floor = state.log.floor
    fresh = [e for e in events if e.key not in seen and (floor is None or e.created_at >= floor)]
    fresh.sort(key=lambda e: e.created_at)
    return fresh


def _absorb_events(
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
                state, raised = _raise_restarted(state, target, event.created_at)
                alerts += raised
            else:
                link = replace(state.restart, awaiting_since=event.created_at)
                state = replace(state, restart=link)
        if event.kind is EventKind.REFUNDED:
            state = _book_refund(state, event)
            state, raised = _raise_refund(state, event)
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


def _absorb_losses(
    state: JobState, points: Sequence[LossPoint], now: datetime, thresholds: Thresholds
) -> tuple[JobState, list[Alert]]:
    """Loss readings from a metrics endpoint, each step checked once however often read."""
    alerts: list[Alert] = []
    for point in sorted(points, key=lambda p: p.step):
        if state.loss.checked_step is not None and point.step <= state.loss.checked_step:
            continue
        state, raised = _loss_reading(
            state, point.loss, str(point.step), point.at or now, thresholds
        )
        state = replace(state, loss=replace(state.loss, checked_step=point.step))
        alerts += raised
    return state, alerts


def _loss_reading(
    state: JobState, loss: float, step_text: str, at: datetime, thresholds: Thresholds
) -> tuple[JobState, list[Alert]]:
    """NaN or infinity once per job; a jump past `loss_spike_factor` × the recent average."""
    facts: dict[str, FactValue] = {"step": step_text, "loss": loss}
    if not math.isfinite(loss):
        if Fact.LOSS_NAN in state.facts:
            return state, []
        state = _with_fact(state, Fact.LOSS_NAN)
        return state, [
            _alert(
                state,
                Kind.LOSS_ANOMALY,
                Severity.FAILURE,
                "loss_nan",
                at,
                f"loss became {loss} at step {step_text}",
                cause=Cause.LOSS_NAN,
                facts=facts,
            )
        ]
    memory = state.loss
    recent = [v for v in memory.recent if math.isfinite(v)]
    state = replace(state, loss=replace(memory, recent=(*memory.recent, loss)[-LOSS_WINDOW:]))
    if len(recent) < 3:
        return state, []
    average = sum(recent) / len(recent)
    spiked = loss >= average * thresholds.loss_spike_factor
    if average <= 0 or not spiked or step_text in memory.spiked_steps:
        return state, []
    memory = replace(
        memory,
        recent=tuple(recent[-LOSS_WINDOW:]),
        spiked_steps=memory.spiked_steps | {step_text},
    )
    state = replace(state, loss=memory)
    fact = f"loss_spike:{step_text}"
    facts["recent_average"] = round(average, 4)
    return state, [
        _alert(
            state,
            Kind.LOSS_ANOMALY,
            Severity.WARNING,
            fact,
            at,
            f"loss spiked to {loss:g} at step {step_text} (recent average {average:.3g})",
            cause=Cause.LOSS_SPIKE,
            facts=facts,
        )
    ]


# -- snapshot ----------------------------------------------------------------------------


def _absorb_snapshot(state: JobState, snapshot: JobSnapshot, now: datetime) -> JobState:
    """Fold the snapshot in. What a job list omits (Together's list lacks the queue
    position and step counts) keeps its last known value rather than reading as a change."""
    path = state.status_path
    if snapshot.raw_status != state.raw_status or not path:
        path = (*path, (snapshot.raw_status, snapshot.updated_at or now))[-PATH_CAP:]
    before = state.progress
    steps = _known(snapshot.steps_completed, before.step)
    epochs = _known(snapshot.epochs_completed, before.epochs)
    progressed = snapshot.status is Status.RUNNING and (steps, epochs) != (
        before.step,
        before.epochs,
    )
    progress = replace(
        before,
        step=steps,
        total_steps=snapshot.total_steps or before.total_steps,
        epochs=epochs,
        n_epochs=snapshot.n_epochs or before.n_epochs,
        queue_depth=_known(snapshot.queue_depth, before.queue_depth)
        if snapshot.status.waiting
        else None,
        at=now if progressed else before.at,
    )
    return replace(
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
        trained_tokens=_known(snapshot.trained_tokens, state.trained_tokens),
        early_stop=estimates.snapshot_early_stop(snapshot) or state.early_stop,
        error_detail=_error_text(snapshot) or state.error_detail,
        marks=replace(state.marks, observed_at=now),
    )


def _known(value: int | None, before: int | None) -> int | None:
    return value if value is not None else before


def _peak(before: float | None, price: float | None) -> float | None:
    """The highest price the provider has stated for the job (`ledger`: what was charged
    before a refund lowered it)."""
    stated = [p for p in (before, price) if p is not None]
    return max(stated) if stated else None


def _book_refund(state: JobState, event: JobEvent) -> JobState:
    """Every refund line, with its amount when it states one, for the cost ledger; a line
    already booked (same key) is not booked again."""
    if any(r.key == event.key for r in state.refunds):
        return state
    amount = causes.refund_amount(event.message)
    refund = Refund(key=event.key, amount_usd=amount, at=event.created_at)
    return replace(state, refunds=(*state.refunds, refund)[-REFUNDS_CAP:])


def _error_text(snapshot: JobSnapshot) -> str | None:
    error = snapshot.error
    if error is None:
        return None
    parts = [p for p in (error.message, f"({error.param})" if error.param else None) if p]
    return " ".join(parts) or error.code


# -- one-time facts from the status and the log ------------------------------------------


def _status_facts(
    state: JobState, snapshot: JobSnapshot, now: datetime
) -> tuple[JobState, list[Alert]]:
    status = snapshot.status
    alerts: list[Alert] = []
    # From the status and the log only: Together's `started_at` is the start of the
    # current stage (a queued job has one), not evidence that the job ever ran.
    started = (
        status in (Status.RUNNING, Status.PAUSED, Status.SUCCEEDED)
        or Signal.STARTED in state.signals
    )
    if started and Fact.STARTED not in state.facts:
        state = _with_fact(state, Fact.STARTED)
        alerts.append(
            _alert(
                state,
                Kind.STARTED,
                Severity.INFO,
                "started",
                state.progress.training_started_at or now,
                "started" + (f" training {state.model}" if state.model else ""),
            )
        )
    state, paused = _pause_facts(state, status, now)
    alerts += paused
    if status is Status.SUCCEEDED and Fact.SUCCEEDED not in state.facts:
        state = _with_fact(state, Fact.SUCCEEDED)
        alerts.append(_succeeded(state, snapshot, now))
    elif status is Status.FAILED and Fact.FAILED not in state.facts:
        state = _with_fact(state, Fact.FAILED)
        state, alert = _failed(state, snapshot, now)
        alerts.append(alert)
    elif status in (Status.CANCELLING, Status.CANCELLED) and Fact.CANCELLED not in state.facts:
        state = _with_fact(state, Fact.CANCELLED)
        alerts.append(_cancelled(state, snapshot, now))
    return state, alerts


def _pause_facts(state: JobState, status: Status, now: datetime) -> tuple[JobState, list[Alert]]:
    """Each pause and each resume is told once; the n-th of each has its own dedup key."""
    if status is Status.PAUSED and state.pauses == state.resumes:
        state = replace(state, pauses=state.pauses + 1)
        fact = f"paused:{state.pauses}"
        return state, [_alert(state, Kind.PAUSED, Severity.INFO, fact, now, "paused")]
    if status is not Status.PAUSED and state.pauses > state.resumes:
        state = replace(state, resumes=state.pauses)
        fact = f"resumed:{state.pauses}"
        return state, [
            _alert(state, Kind.RESUMED, Severity.INFO, fact, now, f"resumed ({state.raw_status})")
        ]
    return state, []


def _succeeded(state: JobState, snapshot: JobSnapshot, now: datetime) -> Alert:
    facts: dict[str, FactValue] = {}
    if state.price_usd is not None:
        facts["price_usd"] = round(state.price_usd, 2)
    if snapshot.trained_tokens is not None:
        facts["trained_tokens"] = snapshot.trained_tokens
    early = f"stopped early {state.early_stop}; " if state.early_stop else ""
    if state.early_stop:
        facts["early_stopped"] = state.early_stop
    if state.output_name:
        summary = f"succeeded — {early}output model {state.output_name}"
    else:
        summary = "succeeded, but the provider names no output model"
        facts["warning"] = "no output model is named; check the job before using it"
    return _alert(
        state,
        Kind.SUCCEEDED,
        Severity.SUCCESS,
        "succeeded",
        snapshot.finished_at or now,
        summary,
        facts=facts,
    )


def _failed(state: JobState, snapshot: JobSnapshot, now: datetime) -> tuple[JobState, Alert]:
    cause = _cause(state, snapshot)
    hint = HINTS[cause]
    restarts = snapshot.traits.restarts_jobs
    if cause is Cause.PROVIDER_ERROR and not restarts:
        hint = NO_RESTART_HINT
    facts: dict[str, FactValue] = {}
    if snapshot.error is not None:
        facts.update({"error_code": snapshot.error.code, "error_param": snapshot.error.param})
        if cause is Cause.INVALID_FILE and snapshot.error.param:
            named = snapshot.training_file if snapshot.error.param == "training_file" else None
            hint = f"{snapshot.error.param}{f' {named}' if named else ''}: " + hint
    if (
        restarts
        and cause is Cause.PROVIDER_ERROR
        and state.restart.awaiting_since is None
        and state.restart.successor is None
    ):
        since = snapshot.finished_at or snapshot.updated_at or now
        state = replace(state, restart=replace(state.restart, awaiting_since=since))
    alert = _alert(
        state,
        Kind.FAILED,
        Severity.FAILURE,
        "failed",
        snapshot.finished_at or now,
        f"failed — {CAUSE_PHRASES[cause]}",
        cause=cause,
        hint=hint,
        detail=state.error_detail,
        facts=facts,
    )
    return state, alert


def _cancelled(state: JobState, snapshot: JobSnapshot, now: datetime) -> Alert:
    cause = _cause(state, snapshot)
    if cause is Cause.PROVIDER_ERROR or cause is Cause.DATA_VALIDATION:
        cause = Cause.UNKNOWN
    hint = HINTS[cause]
    if cause is Cause.UNKNOWN and snapshot.traits.unexplained_cancel_hint:
        hint = snapshot.traits.unexplained_cancel_hint
    if cause in PROVIDER_CANCELS:
        severity = Severity.FAILURE
    elif cause is Cause.USER_REQUESTED:
        severity = Severity.INFO
    else:
        severity = Severity.WARNING
    phrase = CAUSE_PHRASES[cause]
    summary = "cancelled by a person" if cause is Cause.USER_REQUESTED else f"cancelled — {phrase}"
    return _alert(
        state,
        Kind.CANCELLED,
        severity,
        "cancelled",
        snapshot.finished_at or now,
        summary,
        cause=cause,
        hint=hint,
        detail=state.error_detail,
    )


def _cause(state: JobState, snapshot: JobSnapshot) -> Cause:
    return causes.classify(
        snapshot.status,
        state.signals,
        snapshot.error,
        provider_fault=snapshot.provider_fault,
        provider_cancels=snapshot.traits.cancels_jobs,
    )


def _raise_restarted(state: JobState, new_job: str, at: datetime) -> tuple[JobState, list[Alert]]:
    if Fact.RESTARTED in state.facts:
        return state, []
    state = _with_fact(state, Fact.RESTARTED)
    hint = f"Restarted after an internal error; now following {new_job}. Nothing to do."
    return state, [
        _alert(
            state,
            Kind.RESTARTED,
            Severity.WARNING,
            "restarted",
            at,
            f"restarted by the provider as {new_job}",
            cause=Cause.PROVIDER_ERROR,
            hint=hint,
            new_job=new_job,
        )
    ]


def _raise_refund(state: JobState, event: JobEvent) -> tuple[JobState, list[Alert]]:
    if Fact.REFUNDED in state.facts:
        return state, []
    state = _with_fact(state, Fact.REFUNDED)
    amount = causes.refund_amount(event.message)
    facts: dict[str, FactValue] = {"amount_usd": amount} if amount is not None else {}
    summary = f"refunded ${amount:,.2f}" if amount is not None else "refunded"
    return state, [
        _alert(
            state,
            Kind.REFUNDED,
            Severity.INFO,
            "refunded",
            event.created_at,
            summary,
            detail=event.message,
            facts=facts,
            new_job=state.restart.successor,
        )
    ]


def _with_fact(state: JobState, fact: Fact) -> JobState:
    return replace(state, facts=state.facts | {fact})


# -- conditions --------------------------------------------------------------------------


def _conditions(
    state: JobState, now: datetime, thresholds: Thresholds
) -> tuple[JobState, list[Alert]]:
    checks = [] if state.status.terminal else _job_checks(state, now, thresholds)
    opened, alerts = conditions.step(
        state.conditions, checks, now, thresholds.repeat, _condition_alert_maker(state, now)
    )
    return replace(state, conditions=opened), alerts


def _job_checks(state: JobState, now: datetime, t: Thresholds) -> list[conditions.Check]:
    waited = now - _waiting_since(state)
    queue_facts: dict[str, FactValue] = {"waiting": human_duration(waited.total_seconds())}
    if state.progress.queue_depth:
        queue_facts["queue_depth"] = state.progress.queue_depth
    position = (
        f" (queue position {state.progress.queue_depth})" if state.progress.queue_depth else ""
    )
    checks = [
        conditions.Check(
            kind=Kind.QUEUE_STALLED,
            active=state.status.waiting and waited >= t.queue_stall,
            summary=f"waiting in the queue for {human_duration(waited.total_seconds())}{position}",
            facts=queue_facts,
        )
    ]
    idle = now - (state.progress.at or state.created_at)
    checks.append(
        conditions.Check(
            kind=Kind.PROGRESS_STALLED,
            active=state.status is Status.RUNNING and idle >= t.progress_stall,
            summary=f"no new event, step or checkpoint for {human_duration(idle.total_seconds())}",
            facts={"last_progress": (state.progress.at or state.created_at).isoformat()},
        )
    )
    training = state.status is Status.RUNNING and state.phase is Phase.TRAINING
    late = now - state.progress.eta if state.progress.eta else timedelta(0)
    checks.append(
        conditions.Check(
            kind=Kind.ETA_OVERRUN,
            active=training and state.progress.eta is not None and late >= t.eta_grace,
            summary=f"running {human_duration(late.total_seconds())} past its estimated finish",
            facts={"estimated_finish": state.progress.eta.isoformat()}
            if state.progress.eta
            else {},
        )
    )
    return checks


def queue_alert_due(
    state: JobState | None, snapshot: JobSnapshot, now: datetime, thresholds: Thresholds
) -> bool:
    """Whether this poll's queue-stall check fires or reminds: the poll that should first
    fetch the queue position the list lacks, so the alert can name it."""
    if not snapshot.status.waiting:
        return False
    since = snapshot.created_at if state is None else _waiting_since(state)
    if now - since < thresholds.queue_stall:
        return False
    current = None if state is None else state.conditions.get(str(Kind.QUEUE_STALLED))
    return current is None or now - current.notified_at >= thresholds.repeat


def _waiting_since(state: JobState) -> datetime:
    """Time to start counts from submission; after a pause, from re-entering the queue."""
    if Fact.STARTED not in state.facts or not state.status_path:
        return state.created_at
    return state.status_path[-1][1]


def _condition_alert_maker(state: JobState, now: datetime) -> conditions.AlertMaker:
    prefix = f"{state.provider}/{state.job_id}"

    def make(
        check: conditions.Check, cstate: ConditionState, suffix: str, cond: Condition
    ) -> Alert:
        said = conditions.say(
            check, cstate, suffix, cond, now,
            prefix=prefix, firing=Severity.WARNING, cleared=_RESOLVED_WORDS[check.kind],
        )  # fmt: skip
        return _alert(
            state,
            check.kind,
            said.severity,
            "",
            now,
            said.summary,
            hint=said.hint,
            state_=said.state,
            facts=check.facts,
            dedup_key=said.dedup_key,
        )

    return make


_RESOLVED_WORDS = {
    Kind.QUEUE_STALLED: "left the queue",
    Kind.PROGRESS_STALLED: "progress resumed",
    Kind.ETA_OVERRUN: "no longer past its estimate",
}


# -- the alert record --------------------------------------------------------------------


def _alert(
    state: JobState,
    kind: Kind,
    severity: Severity,
    fact: str,
    at: datetime,
    summary: str,
    *,
    cause: Cause | None = None,
    hint: str | None = None,
    detail: str | None = None,
    new_job: str | None = None,
    state_: ConditionState | None = None,
    facts: Mapping[str, FactValue] | None = None,
    dedup_key: str | None = None,
) -> Alert:
    return Alert(
        kind=kind,
        severity=severity,
        provider=state.provider,
        provider_kind=str(state.kind),
        link=state.link,
        job_id=state.job_id,
        at=at,
        summary=summary,
        dedup_key=dedup_key or f"{state.provider}/{state.job_id}/{kind}/{fact}",
        cause=cause,
        hint=hint if hint is not None else (HINTS[cause] if cause else None),
        state=state_,
        new_job=new_job,
        original_job=state.restart.of,
        model=state.model,
        output_name=state.output_name,
        suffix=state.suffix,
        wandb_project=state.wandb_project,
        metadata=state.metadata,
        detail=detail,
        facts=facts or {},
        status_path=state.status_path,
        recent_events=state.log.recent,
    )
