"""One-time facts from a job's status and log: started, paused and resumed, succeeded,
failed, cancelled, restarted, refunded (pure).

Each is recorded in `JobState.facts` (pauses and resumes are counted) and raised at
most once, whatever order or grouping of polls revealed it. The cause of a failure or
cancellation comes from `causes`; the next step from the cause's hint, adjusted to what
the provider does (restarts, cancels on its own).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from monitor.core import causes
from monitor.core.alerts import (
    CAUSE_PHRASES,
    HINTS,
    Alert,
    Cause,
    FactValue,
    Kind,
    Severity,
)
from monitor.core.job_alert import job_alert
from monitor.core.memory import Fact, JobState, Signal
from monitor.core.model import JobEvent, JobSnapshot, Status

NO_RESTART_HINT = (
    "Provider-side error, usually transient. This provider does not restart jobs: "
    "resubmit, and contact support with the job id if it repeats."
)


PROVIDER_CANCELS = frozenset({Cause.BILLING_LIMIT, Cause.INSUFFICIENT_BALANCE, Cause.WANDB_AUTH})


def status_facts(
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
        state = with_fact(state, Fact.STARTED)
        alerts.append(
            job_alert(
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
        state = with_fact(state, Fact.SUCCEEDED)
        alerts.append(_succeeded(state, snapshot, now))
    elif status is Status.FAILED and Fact.FAILED not in state.facts:
        state = with_fact(state, Fact.FAILED)
        state, alert = _failed(state, snapshot, now)
        alerts.append(alert)
    elif status in (Status.CANCELLING, Status.CANCELLED) and Fact.CANCELLED not in state.facts:
        state = with_fact(state, Fact.CANCELLED)
        alerts.append(_cancelled(state, snapshot, now))
    return state, alerts


def _pause_facts(state: JobState, status: Status, now: datetime) -> tuple[JobState, list[Alert]]:
    """Each pause and each resume is told once; the n-th of each has its own dedup key."""
    if status is Status.PAUSED and state.pauses == state.resumes:
        state = replace(state, pauses=state.pauses + 1)
        fact = f"paused:{state.pauses}"
        return state, [job_alert(state, Kind.PAUSED, Severity.INFO, fact, now, "paused")]
    if status is not Status.PAUSED and state.pauses > state.resumes:
        state = replace(state, resumes=state.pauses)
        fact = f"resumed:{state.pauses}"
        return state, [
            job_alert(
                state, Kind.RESUMED, Severity.INFO, fact, now, f"resumed ({state.raw_status})"
            )
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
    return job_alert(
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
    alert = job_alert(
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
    return job_alert(
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


def raise_restarted(state: JobState, new_job: str, at: datetime) -> tuple[JobState, list[Alert]]:
    if Fact.RESTARTED in state.facts:
        return state, []
    state = with_fact(state, Fact.RESTARTED)
    hint = f"Restarted after an internal error; now following {new_job}. Nothing to do."
    return state, [
        job_alert(
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


def raise_refund(state: JobState, event: JobEvent) -> tuple[JobState, list[Alert]]:
    if Fact.REFUNDED in state.facts:
        return state, []
    state = with_fact(state, Fact.REFUNDED)
    amount = causes.refund_amount(event.message)
    facts: dict[str, FactValue] = {"amount_usd": amount} if amount is not None else {}
    summary = f"refunded ${amount:,.2f}" if amount is not None else "refunded"
    return state, [
        job_alert(
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


def with_fact(state: JobState, fact: Fact) -> JobState:
    return replace(state, facts=state.facts | {fact})
