"""The alert record about one job, filled from what its state knows (pure).

Every job alert carries the same context (the job's labels, restart chain, status path
and recent log lines) so a message can stand alone; this is the one place that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from monitor.core.alerts import (
    HINTS,
    Alert,
    Cause,
    ConditionState,
    FactValue,
    Kind,
    Severity,
)
from monitor.core.memory import JobState


def job_alert(
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
