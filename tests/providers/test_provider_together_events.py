"""Together event logs → normalized events: both spellings, levels, timestamps, keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.core.errors import ProviderSchemaError
from monitor.core.model import Level
from monitor.providers import together as tg
from monitor.providers import together_events as te
from monitor.providers._fields import Where

Load = Callable[[str, str], Any]

JOB_ID = "ft-de403361-f63b-49e4-abde-6c2805b3f0e6"


def test_success_log_and_its_spec_spelling_normalize_alike(fixture_json: Load) -> None:
    """UPPERCASE and lowercase logs give the same types; the variant lacks eval_complete."""
    wire = te.parse_event_list(fixture_json("together", "events_success.json"), "tg", JOB_ID)
    spec = te.parse_event_list(
        fixture_json("together", "events_spec_casing_variant.json"), "tg", JOB_ID
    )
    wire_types = [e.type for e in wire]
    assert [t for t in wire_types if t != "eval_complete"] == [e.type for e in spec]
    assert wire_types.count("eval_complete") == 3
    assert "model_compressing" in wire_types  # COMPRESSING_MODEL on the wire
    assert all(t == t.lower() for t in wire_types)
    assert {e.level for e in wire} == {e.level for e in spec} == {Level.INFO}


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("", Level.INFO),  # the real 2023 payload's "unset"
        (None, Level.INFO),
        ("Info", Level.INFO),
        ("info", Level.INFO),
        ("legacy_info", Level.INFO),
        ("Warning", Level.WARNING),
        ("warning", Level.WARNING),
        ("legacy_iwarning", Level.WARNING),  # sic: the worker's spelling
        ("Error", Level.ERROR),
        ("error", Level.ERROR),
        ("legacy_ierror", Level.ERROR),
        ("Debug", Level.INFO),  # unknown → info
        (3, Level.INFO),  # wrong type → info
    ],
)
def test_level_table(raw: object, level: Level) -> None:
    """Every level spelling Together uses, and anything else, lands in {info, warning, error}."""
    assert te.parse_level(raw) is level


@pytest.mark.parametrize(
    ("fixture", "type_", "level"),
    [
        ("events_billing_limit_cancelled.json", "billing_limit", Level.ERROR),
        ("events_wandb_invalid_key_legacy_cancelled.json", "warning", Level.WARNING),
        ("events_data_validation_error.json", "job_user_error", Level.ERROR),
        ("events_restart.json", "job_error", Level.ERROR),
    ],
)
def test_levels_in_the_scenario_logs(
    fixture_json: Load, fixture: str, type_: str, level: Level
) -> None:
    """The scenario logs' warning and error lines keep their severity."""
    events = te.parse_event_list(fixture_json("together", fixture), "tg", JOB_ID)
    assert next(e for e in events if e.type == type_).level is level


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-09T14:02:11.482Z", datetime(2026, 3, 9, 14, 2, 11, 482000, tzinfo=UTC)),
        ("2026-03-09T14:02:11Z", datetime(2026, 3, 9, 14, 2, 11, tzinfo=UTC)),
        ("2026-03-09T16:02:11.5+02:00", datetime(2026, 3, 9, 14, 2, 11, 500000, tzinfo=UTC)),
        ("2026-03-09T14:02:11.123456789Z", datetime(2026, 3, 9, 14, 2, 11, 123456, tzinfo=UTC)),
        ("2026-03-09T14:02:11", datetime(2026, 3, 9, 14, 2, 11, tzinfo=UTC)),  # no offset: UTC
    ],
)
def test_iso_timestamps_become_aware_utc(text: str, expected: datetime) -> None:
    """Every ISO-8601 form becomes an aware datetime in UTC."""
    event = te.parse_event({"created_at": text, "type": "JOB_START"}, Where("tg", "ft-1"))
    assert event.created_at == expected
    assert event.created_at.utcoffset() == timedelta(0)


def test_event_keys_are_stable_across_parses_and_unique_in_a_log(fixture_json: Load) -> None:
    """Two parses give the same keys; no two lines of one log share a key."""
    first = te.parse_event_list(fixture_json("together", "events_success.json"), "tg", JOB_ID)
    again = te.parse_event_list(fixture_json("together", "events_success.json"), "tg", JOB_ID)
    assert [e.key for e in first] == [e.key for e in again]
    assert len({e.key for e in first}) == len(first)
    assert all(e.key.startswith("sha:") for e in first)  # no id, empty hash → digest


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"id": "ev-7", "hash": "abc"}, "ev-7"),  # an id wins
        ({"hash": "abc"}, "hash:abc"),  # else a non-empty hash
        ({"hash": ""}, None),  # an empty hash is no hash: digest
    ],
)
def test_event_key_prefers_id_then_hash(extra: dict[str, str], key: str | None) -> None:
    """Dedupe on `id`, else `hash`, else a digest of time, type and message."""
    raw = {"created_at": "2026-03-09T14:02:11Z", "type": "JOB_START", "message": "go", **extra}
    event = te.parse_event(raw, Where("tg", "ft-1"))
    assert event.key == key if key else event.key.startswith("sha:")


def test_the_embedded_log_matches_the_events_endpoint(fixture_json: Load) -> None:
    """`retrieve`'s `events` and `GET …/events` produce the same normalized lines."""
    job = tg.parse_job(fixture_json("together", "job_completed.json"), "tg")
    log = te.parse_event_list(fixture_json("together", "events_success.json"), "tg", JOB_ID)
    assert [(e.key, e.type) for e in job.events] == [(e.key, e.type) for e in log]


def test_events_are_sorted_oldest_first_stably() -> None:
    """A log served out of order comes back chronological; equal times keep their order."""
    items = [
        {"created_at": "2026-03-09T14:00:02Z", "type": "B", "message": "second"},
        {"created_at": "2026-03-09T14:00:01Z", "type": "A", "message": "first"},
        {"created_at": "2026-03-09T14:00:02Z", "type": "C", "message": "third"},
    ]
    events = te.parse_event_list({"data": items}, "tg", "ft-1")
    assert [e.message for e in events] == ["first", "second", "third"]


def test_event_data_keeps_steps_and_paths_only_when_set(fixture_json: Load) -> None:
    """Unset `0` and `""` are dropped; W&B links and token counts stay."""
    events = te.parse_event_list(fixture_json("together", "events_success.json"), "tg", JOB_ID)
    assert events[0].data == {}
    wandb = next(e for e in events if e.type == "wandb_init")
    assert wandb.data["wandb_url"] == "https://wandb.ai/acme-ml/together/runs/de403361"


def test_a_bad_event_names_the_job_and_its_index() -> None:
    """An event without a readable time cannot be keyed or ordered."""
    with pytest.raises(ProviderSchemaError) as info:
        te.parse_event_list({"data": [{"type": "JOB_START"}]}, "tg", "ft-1")
    assert (info.value.field, info.value.job_id) == ("data[0].created_at", "ft-1")
