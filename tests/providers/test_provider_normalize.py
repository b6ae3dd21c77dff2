"""Providers normalize completely (provider-apis.md section 4): kinds, phases, anchored
estimates, float steps, required fields, request ids and traits, one table a rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from monitor.config.load import DEFAULT_BASE_URLS
from monitor.core.errors import ProviderError, ProviderSchemaError
from monitor.core.model import EventKind, Phase
from monitor.core.settings import ProviderConfig, Secret
from monitor.providers import TRAITS, make_client
from monitor.providers import openai as oa
from monitor.providers import openai_events as oe
from monitor.providers import together as tg
from monitor.providers import together_events as te
from monitor.providers import together_metrics as tm
from monitor.providers._fields import Where

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
STARTED = "2026-03-09T14:00:00.000Z"


def _tg_job(status: str, progress: object, **extra: object) -> dict[str, object]:
    return {"id": "ft-1", "status": status, "created_at": STARTED, "progress": progress, **extra}


@pytest.mark.parametrize(
    ("status", "progress", "started_at", "expected"),
    [
        # training: the stage's start + its expected length, whatever the poll time
        ("running", {"estimate_available": True, "seconds_remaining": 600}, STARTED, 600),
        # an estimate for the queue or for compressing says nothing about training
        ("queued", {"estimate_available": True, "seconds_remaining": 600}, STARTED, None),
        ("compressing", {"estimate_available": True, "seconds_remaining": 60}, STARTED, None),
        # not available, <= 0, or no stage start: no estimate
        ("running", {"estimate_available": False, "seconds_remaining": 600}, STARTED, None),
        ("running", {"estimate_available": True, "seconds_remaining": 0}, STARTED, None),
        ("running", {"estimate_available": True, "seconds_remaining": 600}, None, None),
    ],
)
def test_together_estimate_is_anchored_on_the_training_stage(
    status: str, progress: object, started_at: str | None, expected: int | None
) -> None:
    job = tg.parse_job(_tg_job(status, progress, started_at=started_at), "tg")
    assert job.estimated_finish == (None if expected is None else T0 + timedelta(seconds=expected))


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ("pending", Phase.WAITING),
        ("queued", Phase.WAITING),
        ("running", Phase.TRAINING),
        ("compressing", Phase.FINISHING),
        ("uploading", Phase.FINISHING),
        ("cancel_requested", Phase.OTHER),
        ("user_error", Phase.ENDED),
        ("something_new", Phase.OTHER),
    ],
)
def test_together_phases(status: str, phase: Phase) -> None:
    assert tg.parse_job(_tg_job(status, None), "tg").phase is phase


@pytest.mark.parametrize(
    ("type_", "message", "kind"),
    [
        ("JOB_START", "Job started at …", EventKind.STARTED),
        ("TRAINING_START", "Training started", EventKind.TRAINING),
        ("COMPRESSING_MODEL", "Compressing output model", EventKind.FINISHING),
        ("model_compressing", "Compressing output model", EventKind.FINISHING),
        ("BILLING_LIMIT", "", EventKind.BILLING),
        ("JOB_USER_ERROR", "", EventKind.DATA_ERROR),
        ("CANCEL_REQUESTED", "", EventKind.STOPPED),
        ("JOB_STOPPED", "", EventKind.STOPPED),
        ("EARLY_STOPPED", "", EventKind.EARLY_STOPPED),
        ("early_stopped", "", EventKind.EARLY_STOPPED),
        ("WANDB_INIT", "WandB run initialized.", EventKind.WANDB),
        # an unknown type is read by its words
        ("NEW_TYPE", "restarted as ft-11111111-2222-3333-4444-555555555555", EventKind.RESTARTED),
        ("NEW_TYPE", "Refunded $3", EventKind.REFUNDED),
        ("NEW_TYPE", "restarted, no id", EventKind.MESSAGE),
    ],
)
def test_together_event_kinds(type_: str, message: str, kind: EventKind) -> None:
    raw = {"created_at": STARTED, "type": type_, "message": message, "level": ""}
    assert te.parse_event(raw, Where("tg", "ft-1")).kind is kind


def test_a_restart_line_names_the_other_job() -> None:
    new = "ft-99999999-8888-7777-6666-555555555555"
    own = "ft-11111111-2222-3333-4444-555555555555"
    raw = {"created_at": STARTED, "type": "JOB_RESTARTED", "message": f"{own} restarted as {new}"}
    assert te.parse_event(raw, Where("tg", own)).names_job == new


def test_a_retrieved_together_job_needs_only_id_and_status() -> None:
    """The spec requires only `id` and `status` of a retrieved job; a listed one has more."""
    job = tg.parse_job({"id": "ft-1", "status": "running"}, "tg", listed=False)
    assert (job.id, job.status.value) == ("ft-1", "running")
    with pytest.raises(ProviderSchemaError, match="created_at"):
        tg.parse_job({"id": "ft-1", "status": "running"}, "tg")


@pytest.mark.parametrize(
    ("row", "step", "split"),
    [
        ({"train/global_step": 7.0, "train/loss": 1.5}, 7, "train"),  # a JSON number
        ({"train/global_step": 7, "train/loss": 1.5}, 7, "train"),
        ({"train/global_step": 7.5, "train/loss": 1.5}, None, "train"),  # not a step
        ({"train/global_step": 8.0, "eval/loss": 1.9}, 8, "eval"),  # another curve
    ],
)
def test_metric_steps_are_json_numbers(row: dict[str, float], step: int | None, split: str) -> None:
    parsed = tm.parse_metric_row({"timestamp": 1, **row}, Where("tg", "ft-1"))
    assert (parsed.step, parsed.split) == (step, split)


def test_float_step_nan_reaches_the_loss_check_and_eval_rows_stay_apart() -> None:
    rows = tm.parse_metrics(
        {
            "metrics": [
                {"train/global_step": 7.0, "train/loss": float("nan")},
                {"train/global_step": 7.0, "eval/loss": 0.5},
            ]
        },
        "tg",
        "ft-1",
    )
    points = tm.loss_points(rows)
    assert [p.step for p in points] == [7] and points[0].loss != points[0].loss  # NaN


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (0, None), (-5, None), (1_800_000_000, 1_800_000_000)],
)
def test_openai_estimated_finish_null_or_not_positive_is_none(
    value: int | None, expected: int | None
) -> None:
    raw = {"id": "ftjob-1", "status": "running", "created_at": 1, "estimated_finish": value}
    job = oa.parse_job(raw, "oa")
    want = None if expected is None else datetime.fromtimestamp(expected, UTC)
    assert job.estimated_finish == want and job.phase is Phase.TRAINING


@pytest.mark.parametrize(
    ("type_", "message", "kind"),
    [
        ("message", "Created fine-tuning job: ftjob-1", EventKind.CREATED),
        ("message", "Validating training file: file-1", EventKind.SETUP),
        ("message", "Files validated, moving job to queued state", EventKind.SETUP),
        ("message", "Fine-tuning job started", EventKind.STARTED),
        ("message", "Checkpoint created at step 10 with Snapshot ID: ft:x", EventKind.CHECKPOINT),
        ("message", "The job has successfully completed", EventKind.FINISHED),
        ("message", "The job failed due to an invalid training file", EventKind.ERROR),
        ("message", "Fine-tuning job cancelled", EventKind.STOPPED),
        ("metrics", "Step 1/10: training loss=1.00", EventKind.METRICS),
        ("message", "Something new", EventKind.MESSAGE),
    ],
)
def test_openai_event_kinds(type_: str, message: str, kind: EventKind) -> None:
    raw = {"id": "e1", "created_at": 1, "type": type_, "message": message, "level": "info"}
    assert oe.parse_event(raw, Where("oa", "ftjob-1")).kind is kind


def test_openai_metrics_lines_carry_loss_points() -> None:
    data = {"step": 3, "train_loss": float("nan")}
    raw = {"id": "e1", "created_at": 1, "type": "metrics", "message": "", "data": data}
    event = oe.parse_event(raw, Where("oa", "ftjob-1"))
    assert event.loss is not None and event.loss.step == 3 and event.loss.loss != event.loss.loss


def test_traits_are_declared_by_each_provider() -> None:
    """OpenAI never restarts or cancels on its own; Together does both; the config's
    default base URL is the provider's own (Together: the spec's host)."""
    assert TRAITS["together"].restarts_jobs and not TRAITS["openai"].restarts_jobs
    assert TRAITS["together"].cancels_jobs and not TRAITS["openai"].cancels_jobs
    assert TRAITS["together"].base_url == "https://api.together.ai/v1"
    for kind, url in DEFAULT_BASE_URLS.items():
        assert TRAITS[str(kind)].base_url == url


@pytest.mark.parametrize(
    ("kind", "headers", "request_id"),
    [
        ("openai", {"x-request-id": "req_abc"}, "req_abc"),
        ("together", {"cf-ray": "8f00-SIM"}, "8f00-SIM"),
        ("together", {}, None),
    ],
)
async def test_a_failed_request_carries_its_request_id(
    kind: str, headers: dict[str, str], request_id: str | None
) -> None:
    """What support asks for: the answer's `x-request-id` (or Together's `cf-ray`)."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            500, json={"error": {"message": "boom", "type": "x"}}, headers=headers
        )

    cfg = ProviderConfig(name=kind, kind=kind, api_key=Secret("k"), base_url="http://127.0.0.1:9")  # type: ignore[arg-type]
    client = make_client(cfg, transport=httpx.MockTransport(answer))
    try:
        with pytest.raises(ProviderError) as caught:
            await client.list_jobs(created_after=None)
    finally:
        await client.aclose()
    assert caught.value.request_id == request_id


def test_an_early_stopping_line_is_normalized() -> None:
    """Together's field names stay in the provider: the core reads `best_step`/`best_metric`."""
    raw = {
        "created_at": STARTED,
        "type": "EARLY_STOPPED",
        "message": "Early stopping",
        "early_stopping_best_step": 200.0,
        "early_stopping_best_metric_value": 0.412,
    }
    event = te.parse_event(raw, Where("tg", "ft-1"))
    assert event.kind is EventKind.EARLY_STOPPED
    assert (event.data["best_step"], event.data["best_metric"]) == (200, 0.412)
