"""Together AI job events: the log lines of `GET /fine-tunes/{id}/events` and of a
retrieved job's `events`, normalized (pure; provider-apis.md sections 1 and 4).

Apart from `together` because the log is read on its own (every poll of a running job)
and has its own wire facts: event `type` in either UPPERCASE or the spec's lowercase
(`compressing_model` vs `model_compressing`); `level` in either `Info` or `info`
spelling, plus `legacy_*` variants; no event id in the spec (newer payloads may carry
one); `0` and `""` mean "not applicable". Types map onto the closed set of `EventKind`s
(`together_words`); a type or level no table names is a `Novelty`. An event needs
`created_at`, and a list envelope its `data` list.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.core.model import EventKind, JobEvent, Level, event_key
from monitor.providers._fields import (
    EventData,
    JsonObject,
    Where,
    as_object,
    envelope_items,
    finite_float,
    iso_time,
    opt_int,
    opt_str,
    required_time,
    word_in,
    word_novelty,
)
from monitor.providers.together_words import KINDS, event_kind, named_job

LEVELS: Mapping[str, Level] = {
    "": Level.INFO,
    "info": Level.INFO,
    "legacy_info": Level.INFO,
    "warning": Level.WARNING,
    "legacy_iwarning": Level.WARNING,
    "error": Level.ERROR,
    "legacy_ierror": Level.ERROR,
}


# The worker's UPPERCASE spelling differs from the spec's lowercase one in one word order.
TYPE_ALIASES: Mapping[str, str] = {"compressing_model": "model_compressing"}
# An event type neither `KINDS` nor the aliases name is a `Novelty`: the API may have changed.
EVENT_TYPES = frozenset(KINDS) | frozenset(TYPE_ALIASES)

EVENT_INT_FIELDS = ("step", "total_steps", "token_count", "param_count", "training_offset")
EVENT_STR_FIELDS = ("checkpoint_path", "model_path", "wandb_url")
# Early-stopping fields, under the normalized names the core reads.
EVENT_FLOAT_FIELDS = {"early_stopping_best_metric_value": "best_metric"}
EVENT_STEP_FIELDS = {"early_stopping_best_step": "best_step"}


def parse_level(raw: object) -> Level:
    """`""`/`Info`/`legacy_info` → info and so on; unknown or missing → info."""
    return word_in(LEVELS, raw, Level.INFO)


def parse_event_type(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        return "unknown"
    lowered = raw.strip().lower()
    return TYPE_ALIASES.get(lowered, lowered)


def _event_data(obj: JsonObject) -> EventData:
    """The event's non-empty numbers and paths (`0` and `""` mean "not applicable")."""
    data: EventData = {}
    for name in EVENT_INT_FIELDS:
        number = opt_int(obj, name)
        if number:
            data[name] = number
    for name in EVENT_STR_FIELDS:
        text = opt_str(obj, name)
        if text:
            data[name] = text
    for name, normalized in EVENT_FLOAT_FIELDS.items():
        if (value := finite_float(obj.get(name))) is not None:
            data[normalized] = value
    for name, normalized in EVENT_STEP_FIELDS.items():
        if (value := finite_float(obj.get(name))) is not None and value.is_integer():
            data[normalized] = int(value)
    return data


def _event_id(value: object) -> str | None:
    """The spec has no event id, but newer payloads may carry one (string or number)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def parse_event(raw: object, where: Where) -> JobEvent:
    """One event; keyed by `id` if present, else a non-empty `hash`, else a digest."""
    obj = as_object(raw, where, "")
    created_at = required_time(obj, "created_at", where, iso_time)
    type_ = parse_event_type(obj.get("type"))
    message = obj.get("message")
    text = message if isinstance(message, str) else ""
    kind = event_kind(type_, text)
    return JobEvent(
        key=event_key(_event_id(obj.get("id")), opt_str(obj, "hash"), created_at, type_, text),
        created_at=created_at,
        type=type_,
        kind=kind,
        level=parse_level(obj.get("level")),
        message=text,
        data=_event_data(obj),
        names_job=named_job(text, where.job_id) if kind is EventKind.RESTARTED else None,
        novelties=word_novelty(EVENT_TYPES, obj.get("type"), "event type")
        + word_novelty(LEVELS, obj.get("level"), "event level"),
    )


def parse_events(items: list[object], where: Where) -> list[JobEvent]:
    """A log, oldest first (stable: equal times keep the provider's order)."""
    events = [parse_event(item, where.at(f"[{i}].")) for i, item in enumerate(items)]
    return sorted(events, key=lambda e: e.created_at)


def parse_event_list(raw: object, provider: str, job_id: str) -> list[JobEvent]:
    """`GET /fine-tunes/{id}/events`: `{"data": [...]}`."""
    where = Where(provider, job_id)
    return parse_events(envelope_items(raw, where), where.at("data"))
