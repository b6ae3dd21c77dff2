"""Small builders for snapshots and events, so each test states only what it is about."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.core.model import EventKind, JobError, JobEvent, JobSnapshot, Level, LossPoint, Phase
from monitor.providers import openai as openai_provider
from monitor.providers import openai_words, together_words
from monitor.providers import together as together_provider

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

TOGETHER_STATUS = together_provider.STATUS
OPENAI_STATUS = openai_provider.STATUS

JOB = "ft-11111111-2222-3333-4444-555555555555"
NEW_JOB = "ft-99999999-8888-7777-6666-555555555555"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def together(raw: str, *, job_id: str = JOB, **fields: object) -> JobSnapshot:
    base = JobSnapshot(
        provider="together-prod",
        kind="together",
        id=job_id,
        status=together_provider.parse_status(raw),
        raw_status=raw,
        phase=together_words.parse_phase(raw),
        traits=together_provider.TRAITS,
        provider_fault=raw == "error",
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
        kind="openai",
        id=job_id,
        status=openai_provider.parse_status(raw),
        raw_status=raw,
        phase=openai_words.PHASES.get(raw, Phase.OTHER),
        traits=openai_provider.TRAITS,
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
    kind: EventKind | None = None,
) -> JobEvent:
    """A log line; its kind as the provider that writes `type_` maps it (OpenAI's
    `message`/`metrics` lines by their words, Together's types by its table)."""
    if kind is None and type_ in ("message", "metrics"):
        kind = openai_words.message_kind(type_, message)
    kind = kind or together_words.event_kind(type_, message)
    loss = None
    if kind is EventKind.METRICS and data is not None:
        loss = openai_words.loss_point(data, at(minutes))
    names = together_words.named_job(message, JOB) if kind is EventKind.RESTARTED else None
    return JobEvent(
        key=key or f"{type_}@{minutes}:{message}",
        created_at=at(minutes),
        type=type_,
        kind=kind,
        level=level,
        message=message,
        data=data or {},
        loss=loss,
        names_job=names,
    )


def loss(step: int, value: float, minutes: float = 1) -> LossPoint:
    return LossPoint(step=step, loss=value, at=at(minutes))
