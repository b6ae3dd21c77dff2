"""OpenAI wire shapes → normalized records, as tables over the shared fixture payloads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.core.errors import ProviderSchemaError
from monitor.core.model import JobError, ProviderKind, Status
from monitor.providers import openai as oa

Load = Callable[[str, str], Any]

SUCCEEDED_ID = "ftjob-aNfdPKCRATOti7rlsgwwixS7"


@pytest.mark.parametrize(
    ("fixture", "raw", "status"),
    [
        ("job_validating_files.json", "validating_files", Status.PENDING),
        ("job_queued.json", "queued", Status.QUEUED),
        ("job_queued_stuck.json", "queued", Status.QUEUED),
        ("job_running.json", "running", Status.RUNNING),
        ("job_running_error_placeholder.json", "running", Status.RUNNING),
        # paused: not in the enum, but the pause endpoint returns it
        ("job_paused.json", "paused", Status.PAUSED),
        ("job_succeeded.json", "succeeded", Status.SUCCEEDED),
        ("job_failed.json", "failed", Status.FAILED),
        ("job_cancelled.json", "cancelled", Status.CANCELLED),
    ],
)
def test_every_status_in_the_fixtures_normalizes(
    fixture_json: Load, fixture: str, raw: str, status: Status
) -> None:
    """Each OpenAI status maps onto the one lifecycle and keeps its raw value."""
    job = oa.parse_job(fixture_json("openai", fixture), "oa-prod")
    assert (job.status, job.raw_status) == (status, raw)
    assert (job.provider, job.kind) == ("oa-prod", ProviderKind.OPENAI)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("created", Status.PENDING),  # seen in a 2023 recording
        ("validating_files", Status.PENDING),
        ("resuming", Status.UNKNOWN),  # anything new: unknown, never terminal
        ("", None),  # an empty status is no status
    ],
)
def test_status_words_outside_the_fixtures(raw: str, status: Status | None) -> None:
    """Historic words map; new words are unknown; an empty status is unreadable."""
    payload = {"id": "ftjob-1", "status": raw, "created_at": 1773068667}
    if status is None:
        with pytest.raises(ProviderSchemaError):
            oa.parse_job(payload, "oa")
        return
    assert oa.parse_job(payload, "oa").status is status


def test_the_succeeded_fixture_fills_every_field(fixture_json: Load) -> None:
    """Output model, suffix, epochs, tokens and unix times come through as aware UTC."""
    job = oa.parse_job(fixture_json("openai", "job_succeeded.json"), "oa")
    assert job.id == SUCCEEDED_ID
    assert job.created_at == datetime(2026, 3, 9, 15, 4, 27, tzinfo=UTC)
    assert job.finished_at == datetime(2026, 3, 9, 15, 30, 51, tzinfo=UTC)
    assert job.created_at.tzinfo is UTC
    assert job.output_name == "ft:gpt-4o-mini-2024-07-18:acme-robotics:support-bot:DkR4wq7Z"
    assert job.suffix == "support-bot"
    assert job.n_epochs == 3
    assert job.trained_tokens == 48213
    assert job.model == "gpt-4o-mini-2024-07-18"
    assert job.error is None
    assert job.estimated_finish is None
    assert job.events == ()


def test_a_running_job_has_an_estimated_finish(fixture_json: Load) -> None:
    """`estimated_finish` is unix seconds, like every OpenAI time."""
    job = oa.parse_job(fixture_json("openai", "job_running.json"), "oa")
    assert job.estimated_finish is not None and job.estimated_finish.tzinfo is UTC
    assert job.estimated_finish > job.created_at
    assert job.finished_at is None


@pytest.mark.parametrize(
    ("fixture", "error"),
    [
        # the all-null placeholder seen on healthy jobs is not an error
        ("job_running_error_placeholder.json", None),
        ("job_running.json", None),
        (
            "job_failed.json",
            JobError(
                code="invalid_training_file",
                message="The job failed due to an invalid training file. Invalid file format. "
                "Example 57: the 'messages' list must contain at least one message with "
                "role 'assistant'.",
                param="training_file",
            ),
        ),
    ],
)
def test_error_only_when_it_has_a_code_or_message(
    fixture_json: Load, fixture: str, error: JobError | None
) -> None:
    """`error and error.code`: a placeholder object must not read as a failure."""
    assert oa.parse_job(fixture_json("openai", fixture), "oa").error == error


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ({}, None),
        ({"code": None, "message": None, "param": None}, None),
        ({"code": "", "message": ""}, None),
        ({"message": "boom"}, JobError(message="boom")),
        ({"code": "invalid_n_examples"}, JobError(code="invalid_n_examples")),
        ("invalid_file_format", None),  # wrong type: tolerated as no error
    ],
)
def test_error_table(raw: object, expected: JobError | None) -> None:
    """Every shape `error` has been seen in, and some it has not."""
    assert oa.parse_error(raw) == expected


@pytest.mark.parametrize(
    ("hyperparameters", "method", "n_epochs"),
    [
        ({"n_epochs": 4}, None, 4),
        ({"n_epochs": "auto"}, None, None),  # not filled in yet
        (None, {"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 2}}}, 2),
        ({"n_epochs": "auto"}, {"type": "supervised", "supervised": "x"}, None),
        ({"n_epochs": True}, None, None),
    ],
)
def test_n_epochs_only_when_an_int(
    hyperparameters: object, method: object, n_epochs: int | None
) -> None:
    """`"auto"` is not a number of epochs; the method's copy is the fallback."""
    raw = {"id": "ftjob-1", "status": "running", "created_at": 1, "method": method}
    raw["hyperparameters"] = hyperparameters
    assert oa.parse_job(raw, "oa").n_epochs == n_epochs


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("2026-03-09T15:04:27Z", "created_at"),  # OpenAI times are unix seconds
        (None, "created_at"),
        (True, "created_at"),
        (10**30, "created_at"),  # beyond datetime's range
    ],
)
def test_created_at_must_be_unix_seconds(value: object, field: str) -> None:
    """A job whose creation time cannot be read names the field and the job."""
    with pytest.raises(ProviderSchemaError) as info:
        oa.parse_job({"id": "ftjob-1", "status": "queued", "created_at": value}, "oa")
    assert (info.value.field, info.value.job_id) == (field, "ftjob-1")


def test_job_pages_parse_newest_first_with_has_more(fixture_json: Load) -> None:
    """Both list pages together cover every status, newest first."""
    p1, more1 = oa.parse_job_page(fixture_json("openai", "list_jobs_page1.json"), "oa")
    p2, more2 = oa.parse_job_page(fixture_json("openai", "list_jobs_page2.json"), "oa")
    jobs = p1 + p2
    assert (more1, more2, len(jobs)) == (True, False, 7)
    assert [j.created_at for j in jobs] == sorted((j.created_at for j in jobs), reverse=True)
    assert {j.status for j in jobs} == set(Status) - {Status.CANCELLING, Status.UNKNOWN}


def test_a_missing_has_more_reads_as_the_last_page() -> None:
    """Only `data` is required of a list envelope."""
    jobs, more = oa.parse_job_page({"data": []}, "oa")
    assert (jobs, more) == ([], False)


def test_one_bad_job_fails_the_whole_page(fixture_json: Load) -> None:
    """A partial list would look like vanished jobs, so the poll fails instead."""
    payload = fixture_json("openai", "list_jobs_page1.json")
    del payload["data"][1]["created_at"]
    with pytest.raises(ProviderSchemaError) as info:
        oa.parse_job_page(payload, "oa")
    assert info.value.field == "data[1].created_at"
    assert info.value.job_id == "ftjob-vSfxlOqGE6XSyTFcKv7HTGs9"


def test_checkpoints_page(fixture_json: Load) -> None:
    """Names are the checkpoint models; no cursor when has_more is false."""
    points, cursor = oa.parse_checkpoint_page(
        fixture_json("openai", "checkpoints.json"), "oa", SUCCEEDED_ID
    )
    assert cursor is None
    assert [c.step for c in points] == [30, 20, 10]
    assert points[1].name.endswith(":ckpt-step-20")
    assert points[0].created_at == datetime(2026, 3, 9, 15, 30, 26, tzinfo=UTC)


def test_checkpoint_cursor_is_the_last_id_while_has_more(fixture_json: Load) -> None:
    """The next page starts after the last checkpoint on this one."""
    payload = fixture_json("openai", "checkpoints.json")
    payload["has_more"] = True
    _, cursor = oa.parse_checkpoint_page(payload, "oa", SUCCEEDED_ID)
    assert cursor == "ftckpt_3brQAHUgiwbNlrPrervlxa5r"


@pytest.mark.parametrize(
    ("fields", "suffix", "wandb_project", "metadata"),
    [
        # the suffix named in fine_tuned_model wins over the one the job was submitted with
        ({"fine_tuned_model": "ft:gpt-4o-mini-2024-07-18:acme:support-bot:AbC12",
          "user_provided_suffix": "other"}, "support-bot", None, {}),
        # no suffix in the output name (ft:model:org::id): the submitted one
        ({"fine_tuned_model": "ft:gpt-4o-mini-2024-07-18:acme::AbC12",
          "user_provided_suffix": "search-ranker"}, "search-ranker", None, {}),
        # not finished yet: only the submitted suffix; none at all is None
        ({"fine_tuned_model": None, "user_provided_suffix": "nightly"}, "nightly", None, {}),
        ({}, None, None, {}),
        # the first wandb integration's project; other integration types are skipped
        ({"integrations": [{"type": "other"}, {"type": "wandb", "wandb": {"project": "p1"}},
                           {"type": "wandb", "wandb": {"project": "p2"}}]}, None, "p1", {}),
        ({"integrations": None}, None, None, {}),
        # metadata: string values kept, anything else in it left out; null is none
        ({"metadata": {"team": "support", "n": 3}}, None, None, {"team": "support"}),
        ({"metadata": None}, None, None, {}),
    ],
)  # fmt: skip
def test_routing_fields_come_from_the_payload(
    fields: dict[str, Any],
    suffix: str | None,
    wandb_project: str | None,
    metadata: dict[str, str],
) -> None:
    """What routes and watch filters match on, read from OpenAI's own fields."""
    payload = {"id": "ftjob-1", "status": "running", "created_at": 1773068667, **fields}
    job = oa.parse_job(payload, "oa")
    assert (job.suffix, job.wandb_project, dict(job.metadata)) == (suffix, wandb_project, metadata)
