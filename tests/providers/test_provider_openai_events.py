"""OpenAI event pages → normalized events: order, keys, levels, types, metrics data, NaN."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest

from monitor.core.errors import ProviderSchemaError
from monitor.core.model import Level
from monitor.providers import openai_events as oe
from monitor.providers._fields import Where

Load = Callable[[str, str], Any]

SUCCEEDED_ID = "ftjob-aNfdPKCRATOti7rlsgwwixS7"


def test_the_success_log_normalizes_oldest_first(fixture_json: Load) -> None:
    """Newest-first pages become a chronological log with ids as keys."""
    page, has_more = oe.parse_event_page(
        fixture_json("openai", "events_success.json"), "oa", SUCCEEDED_ID
    )
    log = oe.oldest_first(page)
    assert has_more is False
    assert log[0].message == f"Created fine-tuning job: {SUCCEEDED_ID}"
    assert log[-1].message == "The job has successfully completed"
    assert [e.created_at for e in log] == sorted(e.created_at for e in log)
    assert all(e.key.startswith("ftevent-") for e in log)
    assert {e.type for e in log} == {"message", "metrics"}
    assert all(e.created_at.tzinfo is UTC for e in log)


def test_two_pages_join_into_the_whole_log(fixture_json: Load) -> None:
    """Page 1 (has_more) + page 2 is the same log as the single 100-event read."""
    p1, more1 = oe.parse_event_page(fixture_json("openai", "events_page1.json"), "oa", "x")
    p2, more2 = oe.parse_event_page(fixture_json("openai", "events_page2.json"), "oa", "x")
    whole, _ = oe.parse_event_page(fixture_json("openai", "events_success.json"), "oa", "x")
    assert (more1, more2) == (True, False)
    assert [e.key for e in p1 + p2] == [e.key for e in whole]


def test_a_page_is_parsed_only_down_to_the_last_line_read(fixture_json: Load) -> None:
    """Reading on from a known line: the page stops there (its older lines, even a
    malformed one, are not parsed) and the log goes no further, whatever `has_more` says."""
    raw = fixture_json("openai", "events_page1.json")
    whole, more = oe.parse_event_page(raw, "oa", "x")
    newest = [e.key for e in whole[:3]]
    raw["data"][4] = {"no": "id"}  # older than the line read: never parsed
    page, more = oe.parse_event_page(raw, "oa", "x", until=newest[-1])
    assert ([e.key for e in page], more) == (newest[:2], False)
    with pytest.raises(ProviderSchemaError):
        oe.parse_event_page(raw, "oa", "x")


def test_keys_are_stable_across_two_parses(fixture_json: Load) -> None:
    """The same payload always yields the same keys."""
    raw = fixture_json("openai", "events_metrics.json")
    first, _ = oe.parse_event_page(raw, "oa", "x")
    again, _ = oe.parse_event_page(raw, "oa", "x")
    assert [e.key for e in first] == [e.key for e in again]


def test_metrics_events_keep_their_data(fixture_json: Load) -> None:
    """`type: metrics` lines carry step, losses and accuracies."""
    page, _ = oe.parse_event_page(fixture_json("openai", "events_metrics.json"), "oa", "x")
    newest = page[0]
    assert newest.type == "metrics"
    assert newest.data["step"] == 17
    assert newest.data["train_loss"] == pytest.approx(0.356613)
    assert newest.data["total_steps"] == 30


def test_nan_and_infinity_in_metrics_survive_decoding() -> None:
    """Python's json reads NaN/Infinity; the parse must keep them for loss alerts."""
    body = (
        '{"object":"list","has_more":false,"data":[{"id":"ftevent-1","created_at":1,'
        '"level":"info","message":"Step 3/9: training loss=nan","type":"metrics",'
        '"data":{"step":3,"train_loss":NaN,"valid_loss":Infinity,"extra":{"nested":1}}}]}'
    )
    (event,), _ = oe.parse_event_page(json.loads(body), "oa", "x")
    loss, valid = event.data["train_loss"], event.data["valid_loss"]
    assert isinstance(loss, float) and math.isnan(loss)
    assert valid == math.inf
    assert "extra" not in event.data  # nested values are not scalars


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("info", Level.INFO),
        ("warn", Level.WARNING),  # OpenAI's spelling
        ("warning", Level.WARNING),
        ("error", Level.ERROR),
        ("fatal", Level.INFO),  # unknown → info
        (None, Level.INFO),
    ],
)
def test_level_table(raw: object, level: Level) -> None:
    """OpenAI's three levels, `warn` included, plus the tolerant default."""
    assert oe.parse_level(raw) is level


@pytest.mark.parametrize(
    ("type_", "expected"),
    [("metrics", "metrics"), ("message", "message"), (None, "message"), ("", "message")],
)
def test_event_type_defaults_to_message(type_: object, expected: str) -> None:
    """`type` is optional; a missing one reads as a plain message."""
    raw = {"id": "ftevent-1", "created_at": 1773068667, "message": "m", "type": type_}
    assert oe.parse_event(raw, Where("oa", "x")).type == expected


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"created_at": 1}, "data[0].id"),
        ({"id": "ftevent-1"}, "data[0].created_at"),
        ({"id": "ftevent-1", "created_at": "soon"}, "data[0].created_at"),
        ("ftevent-1", "data[0]"),
    ],
)
def test_an_unreadable_event_names_its_field(event: object, field: str) -> None:
    """Events need an id (the cursor) and a time (the order)."""
    with pytest.raises(ProviderSchemaError) as info:
        oe.parse_event_page({"data": [event], "has_more": False}, "oa", "ftjob-1")
    assert (info.value.field, info.value.job_id) == (field, "ftjob-1")
