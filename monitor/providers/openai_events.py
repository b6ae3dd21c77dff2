"""OpenAI job events: the lines of `GET /fine_tuning/jobs/{id}/events`, normalized (pure;
provider-apis.md sections 2 and 4).

Apart from `openai` because the log is read on its own, newest first, page by page, and
has its own wire facts: `level` is `info`/`warn`/`error`; `type` is `message` or `metrics`
(optional); message lines map onto `EventKind`s by their documented wording
(`openai_words`); `metrics` lines carry the loss readings, NaN and infinity kept as sent.
An event needs its `id` and `created_at`.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.core.model import EventKind, JobEvent, Level, event_key
from monitor.providers._fields import (
    Where,
    as_object,
    envelope_items,
    has_more,
    opt_str,
    required_str,
    required_time,
    scalar_data,
    unix_time,
    word_in,
    word_novelty,
)
from monitor.providers.openai_words import loss_point, message_kind

LEVELS: Mapping[str, Level] = {
    "info": Level.INFO,
    "warn": Level.WARNING,
    "warning": Level.WARNING,
    "error": Level.ERROR,
}

EVENT_TYPES = frozenset({"message", "metrics"})


def parse_level(raw: object) -> Level:
    """`warn` → warning; unknown or missing → info."""
    return word_in(LEVELS, raw, Level.INFO)


def parse_event(raw: object, where: Where) -> JobEvent:
    """One event; `metrics` data is kept as sent, NaN and infinity included."""
    obj = as_object(raw, where, "")
    event_id = required_str(obj, "id", where)
    created_at = required_time(obj, "created_at", where, unix_time)
    type_ = (opt_str(obj, "type") or "message").strip().lower() or "message"
    message = obj.get("message")
    text = message if isinstance(message, str) else ""
    data = scalar_data(obj.get("data"))
    kind = message_kind(type_, text)
    return JobEvent(
        key=event_key(event_id, None, created_at, type_, text),
        created_at=created_at,
        type=type_,
        kind=kind,
        level=parse_level(obj.get("level")),
        message=text,
        data=data,
        loss=loss_point(data, created_at) if kind is EventKind.METRICS else None,
        novelties=word_novelty(EVENT_TYPES, obj.get("type"), "event type")
        + word_novelty(LEVELS, obj.get("level"), "event level"),
    )


def parse_event_page(
    raw: object, provider: str, job_id: str, *, until: str | None = None
) -> tuple[list[JobEvent], bool]:
    """One page of `GET …/events` as sent (newest first), and whether the log goes on
    past it: its `has_more`, unless the page reached the event `until` (the newest one
    read before), where parsing stops: a running job's page is mostly lines already read."""
    where = Where(provider, job_id)
    events: list[JobEvent] = []
    for i, item in enumerate(envelope_items(raw, where)):
        if until is not None and isinstance(item, Mapping) and item.get("id") == until:
            return events, False
        events.append(parse_event(item, where.at(f"data[{i}].")))
    return events, has_more(raw)


def oldest_first(newest_first: list[JobEvent]) -> list[JobEvent]:
    """Reverse the wire order, then sort stably by time (equal times keep their order)."""
    chronological = list(newest_first)
    chronological.reverse()
    chronological.sort(key=lambda e: e.created_at)
    return chronological
