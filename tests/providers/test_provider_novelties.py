"""What each provider marks as new (`Novelty`): unknown statuses, event types and levels, and
documented fields that arrive with another type. The shared fixtures (real payload shapes)
carry none: a known payload must never raise `monitor.api_changed`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.core.model import JobEvent, JobSnapshot, Novelty
from monitor.providers import openai as oa
from monitor.providers import openai_events as oe
from monitor.providers import together as tg
from monitor.providers import together_events as te
from monitor.providers._fields import Where
from tests.providers.conftest import load_fixture

N = Novelty
FIXTURES = Path(__file__).parent.parent / "fixtures"


def _parsed(provider: str, name: str) -> list[JobSnapshot | JobEvent]:
    raw: Any = load_fixture(provider, name)
    module = tg if provider == "together" else oa
    if name.startswith("events"):
        if provider == "together":
            return list(te.parse_event_list(raw, "p", "job"))
        return list(oe.parse_event_page(raw, "p", "job")[0])
    if name.startswith("list"):
        return list(
            tg.parse_job_list(raw, "p")
            if provider == "together"
            else oa.parse_job_page(raw, "p")[0]
        )
    return [module.parse_job(raw, "p")]


@pytest.mark.parametrize(
    ("provider", "name"),
    [
        (d.name, f.name)
        for d in sorted(FIXTURES.iterdir())
        if d.is_dir()
        for f in sorted(d.glob("*.json"))
        if f.name.startswith(("job_", "events_", "list_"))
    ],
)
def test_the_fixture_payloads_carry_nothing_new(provider: str, name: str) -> None:
    records = _parsed(provider, name)
    assert records
    novel = [n for r in records for n in r.novelties]
    novel += [
        n for r in records if isinstance(r, JobSnapshot) for e in r.events for n in e.novelties
    ]
    assert novel == []


TG_JOB = {"id": "ft-1", "status": "running", "created_at": "2026-11-04T09:00:00Z"}
OA_JOB = {"id": "ftjob-1", "status": "running", "created_at": 1793782800}


@pytest.mark.parametrize(
    ("module", "job", "change", "expected"),
    [
        # a status the provider's table lacks: named as sent
        (tg, TG_JOB, {"status": "Preempted"}, [Novelty(what="status", value="Preempted")]),
        (oa, OA_JOB, {"status": "preparing"}, [Novelty(what="status", value="preparing")]),
        # a known status in another case is not new (statuses are read case-insensitively)
        (tg, TG_JOB, {"status": "RUNNING"}, []),
        # Together's price as a string: read as absent, so said
        (tg, TG_JOB, {"total_price": "12400000000"},
         [Novelty(what="field total_price", value="text instead of number")]),
        (oa, OA_JOB, {"trained_tokens": 3.5},
         [Novelty(what="field trained_tokens", value="number instead of integer")]),
        (oa, OA_JOB, {"error": "boom"}, [N(what="field error", value="text instead of object")]),
        # null and absent optional fields are ordinary
        (tg, TG_JOB, {"total_price": None, "queue_depth": None}, []),
        (oa, OA_JOB, {"estimated_finish": None, "error": None}, []),
    ],
)  # fmt: skip
def test_a_job_names_what_is_new_in_it(
    module: Any, job: dict[str, Any], change: dict[str, Any], expected: list[Novelty]
) -> None:
    assert list(module.parse_job({**job, **change}, "p").novelties) == expected


@pytest.mark.parametrize(
    ("module", "event", "expected"),
    [
        (te, {"type": "JOB_WARMUP", "level": "Info"}, [N(what="event type", value="JOB_WARMUP")]),
        (te, {"type": "JOB_START", "level": "Notice"}, [N(what="event level", value="Notice")]),
        (te, {"type": "COMPRESSING_MODEL", "level": ""}, []),  # the worker's spelling
        (te, {"type": "early_stopped", "level": "legacy_iwarning"}, []),
        (oe, {"type": "hyperparams", "level": "info"}, [N(what="event type", value="hyperparams")]),
        (oe, {"type": "metrics", "level": "debug"}, [Novelty(what="event level", value="debug")]),
        (oe, {"type": "message", "level": "warn"}, []),
    ],
)  # fmt: skip
def test_an_event_names_what_is_new_in_it(
    module: Any, event: dict[str, Any], expected: list[Novelty]
) -> None:
    created = "2026-11-04T09:00:00Z" if module is te else 1793782800
    raw = {"id": "e1", "created_at": created, "message": "m", **event}
    assert list(module.parse_event(raw, Where("p", "job")).novelties) == expected
