"""Property tests: any JSON-ish payload parses or raises ProviderSchemaError, nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.errors import ProviderSchemaError
from monitor.core.model import JobSnapshot
from monitor.providers import openai as oa
from monitor.providers import openai_events as oe
from monitor.providers import together as tg
from monitor.providers import together_events as te
from monitor.providers import together_metrics as tm
from monitor.providers.http_errors import decode_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOGETHER_FIELDS = [
    "id", "status", "created_at", "updated_at", "started_at", "events", "total_price",
    "progress", "queue_depth", "n_epochs", "epochs_completed", "model_output_name",
    "wandb_url", "suffix", "steps_completed", "total_steps", "type", "level", "message",
    "hash", "step", "path", "checkpoint_type", "object_name", "timestamp", "train/loss",
    "train/global_step", "eval/loss", "estimate_available", "seconds_remaining",
]  # fmt: skip
OPENAI_FIELDS = [
    "id", "status", "created_at", "finished_at", "estimated_finish", "error", "code",
    "message", "param", "fine_tuned_model", "hyperparameters", "n_epochs", "method", "type",
    "supervised", "trained_tokens", "user_provided_suffix", "level", "data", "has_more",
    "step_number", "fine_tuned_model_checkpoint",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "",
            "running",
            "completed",
            "2026-03-09T14:02:11.482Z",
            "9999-12-31T23:59:59-05:00",
            "0001-01-01T00:00:00+01:00",
            "warn",
            "Error",
            "COMPRESSING_MODEL",
            "auto",
        ]
    )
)


def json_values(keys: list[str]) -> st.SearchStrategy[object]:
    """Nested lists and objects whose keys are mostly the fields the parsers look at."""
    key = st.sampled_from(keys) | st.text(max_size=6)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(key, inner, max_size=6),
        max_leaves=20,
    )


def _fixtures(provider: str) -> list[object]:
    files = sorted((FIXTURES / provider).glob("*.json"))
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def mutated(provider: str, keys: list[str]) -> st.SearchStrategy[object]:
    """A real fixture payload with one field (top level or in its first list item) replaced."""

    @st.composite
    def build(draw: st.DrawFn) -> object:
        doc = json.loads(json.dumps(draw(st.sampled_from(_fixtures(provider)))))
        target = doc
        if isinstance(doc, dict) and isinstance(doc.get("data"), list) and doc["data"]:
            target = doc["data"][0] if draw(st.booleans()) else doc
        if isinstance(target, dict):
            field = draw(st.sampled_from(sorted(target) or keys) | st.sampled_from(keys))
            if draw(st.booleans()):
                target.pop(field, None)
            else:
                target[field] = draw(json_values(keys))
        return doc

    return build()


def payloads(provider: str, keys: list[str]) -> st.SearchStrategy[object]:
    return json_values(keys) | mutated(provider, keys)


def _only_schema_errors(parse: Callable[[], object]) -> object:
    try:
        return parse()
    except ProviderSchemaError as exc:
        error = exc
    assert error.field  # every schema error names a field
    return None


def _check_snapshot(job: JobSnapshot) -> None:
    assert job.created_at.utcoffset() == timedelta(0)
    assert job.id
    for event in job.events:
        assert event.created_at.utcoffset() == timedelta(0)


TOGETHER_PARSERS: list[Callable[[object], object]] = [
    lambda raw: tg.parse_job(raw, "tg"),
    lambda raw: tg.parse_job_list(raw, "tg"),
    lambda raw: te.parse_event_list(raw, "tg", "ft-1"),
    lambda raw: tg.parse_checkpoints(raw, "tg", "ft-1"),
    lambda raw: tm.parse_metrics(raw, "tg", "ft-1"),
]
OPENAI_PARSERS: list[Callable[[object], object]] = [
    lambda raw: oa.parse_job(raw, "oa"),
    lambda raw: oa.parse_job_page(raw, "oa"),
    lambda raw: oe.parse_event_page(raw, "oa", "ftjob-1"),
    lambda raw: oa.parse_checkpoint_page(raw, "oa", "ftjob-1"),
]


@pytest.mark.parametrize("parse", TOGETHER_PARSERS)
@FAST
@given(raw=payloads("together", TOGETHER_FIELDS))
def test_together_parsers_raise_only_schema_errors(
    parse: Callable[[object], object], raw: object
) -> None:
    """Random, missing and wrong-typed fields never escape as another exception."""
    result = _only_schema_errors(lambda: parse(raw))
    for job in result if isinstance(result, list) else [result]:
        if isinstance(job, JobSnapshot):
            _check_snapshot(job)


@pytest.mark.parametrize("parse", OPENAI_PARSERS)
@FAST
@given(raw=payloads("openai", OPENAI_FIELDS))
def test_openai_parsers_raise_only_schema_errors(
    parse: Callable[[object], object], raw: object
) -> None:
    """Random, missing and wrong-typed fields never escape as another exception."""
    result = _only_schema_errors(lambda: parse(raw))
    jobs: Any = result[0] if isinstance(result, tuple) else [result]
    for job in jobs:
        if isinstance(job, JobSnapshot):
            _check_snapshot(job)


@FAST
@given(body=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_any_body_decodes_or_is_a_schema_error(body: bytes) -> None:
    """Truncated, malformed or binary bodies are schema errors, never a crash."""
    _only_schema_errors(lambda: decode_json("p", body, "ft-1"))


@FAST
@given(depth=st.integers(min_value=1, max_value=50_000))
def test_deeply_nested_json_is_a_schema_error_or_a_value(depth: int) -> None:
    """Even a body nested past the recursion limit cannot crash the poll."""
    result = _only_schema_errors(lambda: decode_json("p", b"[" * depth + b"]" * depth, None))
    if result is not None:
        _only_schema_errors(lambda: tg.parse_job_list(result, "tg"))
