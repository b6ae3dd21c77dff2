"""Small builders for snapshots and events, so each test states only what it is about."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.core.model import JobError, JobEvent, JobSnapshot, Level, ProviderKind, Status

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

TOGETHER_STATUS = {
    "pending": Status.PENDING,
    "queued": Status.QUEUED,
    "running": Status.RUNNING,
    "compressing": Status.RUNNING,
    "uploading": Status.RUNNING,
    "cancel_requested": Status.CANCELLING,
    "cancelled": Status.CANCELLED,
    "error": Status.FAILED,
    "user_error": Status.FAILED,
    "completed": Status.SUCCEEDED,
}
OPENAI_STATUS = {
    "validating_files": Status.PENDING,
    "queued": Status.QUEUED,
    "running": Status.RUNNING,
    "paused": Status.PAUSED,
    "succeeded": Status.SUCCEEDED,
    "failed": Status.FAILED,
    "cancelled": Status.CANCELLED,
}

JOB = "ft-11111111-2222-3333-4444-555555555555"
NEW_JOB = "ft-99999999-8888-7777-6666-555555555555"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def together(raw: str, *, job_id: str = JOB, **fields: object) -> JobSnapshot:
    base = JobSnapshot(
        provider="together-prod",
        kind=ProviderKind.TOGETHER,
        id=job_id,
        status=TOGETHER_STATUS.get(raw, Status.UNKNOWN),
        raw_status=raw,
        created_at=T0,
        model="meta-llama/Llama-3-8b",
        training_file="file-abc",
        suffix="demo",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def openai(
    raw: str, *, job_id: str = "ftjob-abc123", error: JobError | None = None, **fields: object
) -> JobSnapshot:
    base = JobSnapshot(
        provider="openai-prod",
        kind=ProviderKind.OPENAI,
        id=job_id,
        status=OPENAI_STATUS.get(raw, Status.UNKNOWN),
        raw_status=raw,
        created_at=T0,
        model="gpt-4o-mini-2024-07-18",
        training_file="file-train",
        error=error,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def event(
    type_: str,
    message: str = "",
    minutes: float = 1,
    *,
    level: Level = Level.INFO,
    key: str | None = None,
    data: Mapping[str, float | int | str | None] | None = None,
) -> JobEvent:
    return JobEvent(
        key=key or f"{type_}@{minutes}:{message}",
        created_at=at(minutes),
        type=type_,
        level=level,
        message=message,
        data=data or {},
    )
