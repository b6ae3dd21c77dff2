"""Together wire shapes → normalized records, as tables over the shared fixture payloads."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.core.errors import ProviderSchemaError
from monitor.core.model import Status
from monitor.providers import together as tg
from monitor.providers import together_metrics as tm

Load = Callable[[str, str], Any]

JOB_ID = "ft-de403361-f63b-49e4-abde-6c2805b3f0e6"


@pytest.mark.parametrize(
    ("fixture", "raw", "status"),
    [
        ("job_pending.json", "pending", Status.PENDING),
        ("job_queued.json", "queued", Status.QUEUED),
        ("job_queued_stuck.json", "queued", Status.QUEUED),
        ("job_running.json", "running", Status.RUNNING),
        ("job_restarted_new.json", "running", Status.RUNNING),
        # post-training phases are still "running" for the lifecycle
        ("job_compressing.json", "compressing", Status.RUNNING),
        ("job_uploading.json", "uploading", Status.RUNNING),
        # cancel_requested is transient on the way to cancelled
        ("job_cancel_requested.json", "cancel_requested", Status.CANCELLING),
        ("cancel_response.json", "cancel_requested", Status.CANCELLING),
        ("job_completed.json", "completed", Status.SUCCEEDED),
        # both Together error states are failures; user_error is not in the spec but real
        ("job_error.json", "error", Status.FAILED),
        ("job_user_error.json", "user_error", Status.FAILED),
        ("job_user_error_wandb.json", "user_error", Status.FAILED),
        ("job_cancelled.json", "cancelled", Status.CANCELLED),
    ],
)
def test_every_status_in_the_fixtures_normalizes(
    fixture_json: Load, fixture: str, raw: str, status: Status
) -> None:
    """Each Together status maps onto the one lifecycle and keeps its raw value."""
    job = tg.parse_job(fixture_json("together", fixture), "tg-prod")
    assert (job.status, job.raw_status) == (status, raw)
    assert job.provider == "tg-prod"
    assert job.kind == "together" and job.traits is tg.TRAITS
    assert job.error is None  # Together has no error object; the diff reads the log


@pytest.mark.parametrize("raw", ["paused", "COMPLETED_WITH_WARNINGS", "archived"])
def test_an_unknown_status_is_unknown_and_keeps_its_raw_value(raw: str) -> None:
    """A status added tomorrow is `unknown` (never terminal), not an error."""
    job = tg.parse_job({"id": "ft-1", "status": raw, "created_at": "2026-03-09T14:02:11Z"}, "tg")
    assert job.status is Status.UNKNOWN
    assert job.raw_status == raw
    assert not job.status.terminal


def test_the_running_fixture_fills_every_progress_field(fixture_json: Load) -> None:
    """Times, epochs, ETA, price, output name and W&B link all come through."""
    job = tg.parse_job(fixture_json("together", "job_running.json"), "tg")
    assert job.id == JOB_ID
    assert job.created_at == datetime(2026, 3, 9, 14, 2, 11, 482000, tzinfo=UTC)
    assert job.started_at == datetime(2026, 3, 9, 14, 9, 37, 204000, tzinfo=UTC)
    assert job.updated_at is not None and job.updated_at.tzinfo is UTC
    assert job.n_epochs == 3
    assert job.epochs_completed == 1
    assert job.queue_depth == 0
    # the training stage's end: its started_at + seconds_remaining (it stays put)
    assert job.estimated_finish == job.started_at + timedelta(seconds=412)
    assert job.price_usd == pytest.approx(4.87)  # 4_870_000_000 nano-dollars
    assert job.model == "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    assert job.output_name is not None and job.output_name.endswith("support-bot-v3-de403361")
    assert job.training_file == "file-725ded40-4f66-4473-b22b-8858e484cd31"
    assert job.wandb_url == "https://wandb.ai/acme-ml/together/runs/de403361"
    assert [e.type for e in job.events][-1] == "epoch_complete"


@pytest.mark.parametrize(
    ("fixture", "seconds_remaining", "queue_depth", "price_usd"),
    [
        ("job_queued.json", None, 6, 0.0),  # no estimate yet: seconds_remaining is not 0
        ("job_queued_stuck.json", None, 14, 0.0),
        ("job_compressing.json", None, 0, 4.87),  # a finishing stage's estimate is not training's
        ("job_completed.json", None, 0, 4.87),  # estimate_available false
        ("job_cancelled.json", None, 0, 38.215),
    ],
)
def test_estimates_queue_depth_and_price(
    fixture_json: Load,
    fixture: str,
    seconds_remaining: float | None,
    queue_depth: int,
    price_usd: float,
) -> None:
    """An estimate counts only in training and when `estimate_available` is true."""
    job = tg.parse_job(fixture_json("together", fixture), "tg")
    expected = None
    if seconds_remaining is not None and job.started_at is not None:
        expected = job.started_at + timedelta(seconds=seconds_remaining)
    assert job.estimated_finish == expected
    assert job.queue_depth == queue_depth
    assert job.price_usd == pytest.approx(price_usd)


def test_an_offset_time_is_converted_not_relabelled() -> None:
    """`+02:00` means two hours earlier in UTC."""
    job = tg.parse_job(
        {"id": "ft-1", "status": "queued", "created_at": "2026-03-09T16:00:00+02:00"}, "tg"
    )
    assert job.created_at == datetime(2026, 3, 9, 14, tzinfo=UTC)
    assert job.created_at.tzinfo is UTC


def test_list_is_sorted_newest_first(fixture_json: Load) -> None:
    """`GET /fine-tunes` is unsorted on the wire; the parse is newest first."""
    jobs = tg.parse_job_list(fixture_json("together", "list_jobs.json"), "tg")
    assert len(jobs) == 6
    assert [j.created_at for j in jobs] == sorted((j.created_at for j in jobs), reverse=True)
    assert {j.raw_status for j in jobs} == {
        "completed",
        "queued",
        "cancelled",
        "running",
        "error",
        "user_error",
    }


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda j: j.pop("status"), "data[2].status"),
        (lambda j: j.update(status=None), "data[2].status"),
        (lambda j: j.update(created_at=1773065417), "data[2].created_at"),
        (lambda j: j.update(created_at="yesterday"), "data[2].created_at"),
        (lambda j: j.update(id=42), "data[2].id"),
    ],
)
def test_one_bad_job_fails_the_whole_list(
    fixture_json: Load, mutate: Callable[[dict[str, Any]], object], field: str
) -> None:
    """A partial list would look like vanished jobs, so the poll fails instead."""
    payload = fixture_json("together", "list_jobs.json")
    mutate(payload["data"][2])
    with pytest.raises(ProviderSchemaError) as info:
        tg.parse_job_list(payload, "tg")
    assert info.value.field == field
    assert info.value.job_id == (
        None if field.endswith(".id") else "ft-bfe29227-0d7e-418b-ba04-fe6e768371d9"
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "<body>"),
        ({"object": "list"}, "data"),
        ({"data": None}, "data"),
        ({"data": ["ft-1"]}, "data[0]"),
    ],
)
def test_an_unreadable_list_envelope_names_the_field(payload: object, field: str) -> None:
    """Only the `data` list is required of the envelope."""
    with pytest.raises(ProviderSchemaError) as info:
        tg.parse_job_list(payload, "tg")
    assert info.value.field == field


def test_optional_fields_may_be_missing_null_or_mistyped() -> None:
    """Only id, status and created_at are needed; the rest reads as None."""
    raw = {
        "id": "ft-1",
        "status": "running",
        "created_at": "2026-03-09T14:02:11Z",
        "n_epochs": "three",
        "queue_depth": None,
        "progress": {"estimate_available": "yes", "seconds_remaining": 10},
        "total_price": True,
        "events": None,
        "model_output_name": "",
        "brand_new_field": {"nested": [1, 2]},
    }
    job = tg.parse_job(raw, "tg")
    assert (job.n_epochs, job.queue_depth, job.estimated_finish, job.price_usd) == (None,) * 4
    assert job.output_name is None
    assert job.events == ()


def test_checkpoints_are_named_and_ordered_by_step(fixture_json: Load) -> None:
    """Registry names when present; ascending steps; aware times."""
    points = tg.parse_checkpoints(fixture_json("together", "checkpoints.json"), "tg", JOB_ID)
    assert [c.step for c in points] == [48, 72, 72]
    assert points[0].name.endswith("-48")
    assert points[2].name.endswith("-adapter")
    assert all(c.created_at is not None and c.created_at.tzinfo is UTC for c in points)


def test_checkpoint_names_fall_back_to_path_then_download_name() -> None:
    """Without registry fields the storage path names it, else the CLI's download name."""
    raw = {
        "data": [
            {"step": 5, "checkpoint_type": "Intermediate"},
            {"step": 9, "checkpoint_type": "Final", "path": "s3://b/final"},
            {"step": 9, "checkpoint_type": "Final Merged"},
        ]
    }
    names = [c.name for c in tg.parse_checkpoints(raw, "tg", "ft-1")]
    assert names == ["ft-1:5", "s3://b/final", "ft-1"]


def test_metrics_rows_have_ns_times_steps_and_split_losses(fixture_json: Load) -> None:
    """Train and eval rows stay separate; nanosecond timestamps become aware UTC."""
    rows = tm.parse_metrics(fixture_json("together", "metrics.json"), "tg", JOB_ID)
    assert rows[0].time == datetime(2026, 3, 9, 14, 10, 17, 748000, tzinfo=UTC)
    assert (rows[0].step, rows[0].split, rows[0].loss) == (1, "train", 2.3389)
    evals = [r for r in rows if r.split == "eval"]
    assert [(r.step, r.loss) for r in evals] == [(24, 1.3915), (48, 0.7691), (72, 0.4466)]


def test_a_nan_loss_survives_metrics_parsing() -> None:
    """NaN and infinity are what loss-anomaly detection needs to see."""
    raw = {"metrics": [{"timestamp": 0, "train/global_step": 3, "train/loss": math.nan}]}
    (row,) = tm.parse_metrics(raw, "tg", "ft-1")
    assert row.loss is not None and math.isnan(row.loss)
    assert row.time == datetime(1970, 1, 1, tzinfo=UTC)


def test_metrics_absent_means_none_yet() -> None:
    """A job that has not logged a step yet has no rows, not an error."""
    assert tm.parse_metrics({"metrics": None}, "tg", "ft-1") == []
    assert tm.parse_metrics({}, "tg", "ft-1") == []


def test_routing_fields_come_from_the_payload() -> None:
    """Together's suffix, output name and W&B project are what routes match on; an empty
    string is Together's "unset"."""
    payload = {
        "id": "ft-1",
        "status": "running",
        "created_at": "2026-03-09T14:09:37.000Z",
        "suffix": "search-ranker",
        "model_output_name": "acme/Llama-3-8b-search-ranker-1",
        "wandb_project_name": "search",
    }
    job = tg.parse_job(payload, "tg")
    assert (job.suffix, job.output_name, job.wandb_project) == (
        "search-ranker",
        "acme/Llama-3-8b-search-ranker-1",
        "search",
    )
    assert tg.parse_job({**payload, "wandb_project_name": ""}, "tg").wandb_project is None
    assert tg.parse_job(payload, "tg").metadata == {}
