"""The OpenAI endpoints answer in the fixtures' wire shapes, with cursor pagination."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from monitor.simulator import ManualClock, Simulator

from .conftest import OPENAI_AUTH, START, client_for, fixture


def _pages(client: httpx.Client, path: str, limit: int | None) -> list[dict[str, Any]]:
    """Follow `after` cursors to the end; every page but the last says has_more."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {} if limit is None else {"limit": limit}
    while True:
        page = client.get(path, params=params).json()
        assert page["object"] == "list"
        items += page["data"]
        if not page["has_more"]:
            return items
        assert page["data"], "has_more with an empty page"
        params["after"] = page["data"][-1]["id"]


def test_job_list_newest_first_and_paginates(sim: Simulator, oa: httpx.Client) -> None:
    """`limit`/`after` walk every job exactly once, newest first (ties by id)."""
    for i in range(23):
        sim.add_scenario("openai_success", at=-60 * (i // 2))  # pairs share created_at
    first = oa.get("/fine_tuning/jobs").json()
    assert len(first["data"]) == 20 and first["has_more"] is True  # default limit 20
    jobs = _pages(oa, "/fine_tuning/jobs", 4)
    assert len(jobs) == 23 and len({j["id"] for j in jobs}) == 23
    keys = [(j["created_at"], j["id"]) for j in jobs]
    assert keys == sorted(keys, reverse=True)
    assert [j["id"] for j in jobs[:20]] == [j["id"] for j in first["data"]]
    assert len(oa.get("/fine_tuning/jobs", params={"limit": 500}).json()["data"]) == 23


def test_job_shape_at_each_stage(sim: Simulator, oa: httpx.Client) -> None:
    """validating_files → queued → running → succeeded, in the fixtures' key order."""
    handle = sim.add_scenario("openai_success")
    url = f"/fine_tuning/jobs/{handle.job_id}"
    job = oa.get(url).json()
    assert list(job) == list(fixture("openai/job_validating_files.json"))
    assert job["status"] == "validating_files" and job["hyperparameters"]["n_epochs"] == "auto"
    assert job["created_at"] == int(START.timestamp()) and job["error"] is None
    sim.advance(60)
    assert oa.get(url).json()["status"] == "queued"
    sim.advance_to(handle.at(700))
    job = oa.get(url).json()
    assert job["status"] == "running" and job["hyperparameters"]["n_epochs"] == 3
    assert job["estimated_finish"] == int(handle.at(600).timestamp()) + 300 * 9 + 40
    sim.advance_to(handle.end)
    job = oa.get(url).json()
    assert list(job) == list(fixture("openai/job_succeeded.json"))
    assert job["status"] == "succeeded" and job["estimated_finish"] is None
    assert job["fine_tuned_model"] == (
        f"ft:gpt-4o-mini-2024-07-18:example-robotics:support-bot:{job['fine_tuned_model'][-8:]}"
    )
    assert job["result_files"][0].startswith("file-") and job["trained_tokens"] == 412_830
    assert isinstance(job["finished_at"], int) and job["finished_at"] >= job["created_at"]


def test_events_newest_first_with_cursor(sim: Simulator, oa: httpx.Client) -> None:
    """Events page newest first by `after` = event id; the texts of provider-apis 2.5."""
    handle = sim.add_scenario("openai_success")
    sim.advance_to(handle.end)
    url = f"/fine_tuning/jobs/{handle.job_id}/events"
    first = oa.get(url).json()
    assert len(first["data"]) == 20 and first["has_more"] is True
    events = _pages(oa, url, 37)
    assert len(events) == 3 + 300 + 2 + 1 + 1 + 1  # intake, steps, 2 checkpoints, model, done
    assert [e["id"] for e in events[:20]] == [e["id"] for e in first["data"]]
    assert len({e["id"] for e in events}) == len(events)
    assert all(
        e["id"].startswith("ftevent-") and e["object"] == "fine_tuning.job.event" for e in events
    )
    times = [e["created_at"] for e in events]
    assert times == sorted(times, reverse=True)
    messages = [e["message"] for e in events]
    assert messages[0] == "The job has successfully completed"
    assert messages[1].startswith("New fine-tuned model created: ft:gpt-4o-mini")
    assert messages[-1] == f"Created fine-tuning job: {handle.job_id}"
    assert "Files validated, moving job to queued state" in messages
    assert "Fine-tuning job started" in messages
    assert any(
        m.startswith("Checkpoint created at step 100 with Snapshot ID: ft:") for m in messages
    )
    step_35 = next(e for e in events if e["data"] and e["data"].get("step") == 35)
    assert step_35["type"] == "metrics"
    assert step_35["message"] == f"Step 35/300: training loss={step_35['data']['train_loss']:.2f}"
    assert set(step_35["data"]) == {
        "step",
        "total_steps",
        "train_loss",
        "train_mean_token_accuracy",
    }
    step_50 = next(e for e in events if e["data"] and e["data"].get("step") == 50)
    assert "valid_loss" in step_50["data"] and ", validation loss=" in step_50["message"]


def test_checkpoints_newest_first_with_first_and_last_id(sim: Simulator, oa: httpx.Client) -> None:
    """Checkpoints: newest first, default limit 10, first_id/last_id, final = model name."""
    handle = sim.add_scenario("openai_success")
    sim.advance_to(handle.end)
    url = f"/fine_tuning/jobs/{handle.job_id}/checkpoints"
    page = oa.get(url).json()
    assert set(page) == {"object", "data", "first_id", "last_id", "has_more"}
    assert [c["step_number"] for c in page["data"]] == [300, 200, 100]
    assert page["first_id"] == page["data"][0]["id"] and page["last_id"] == page["data"][-1]["id"]
    assert list(page["data"][0]) == list(fixture("openai/checkpoints.json")["data"][0])
    job = oa.get(f"/fine_tuning/jobs/{handle.job_id}").json()
    assert page["data"][0]["fine_tuned_model_checkpoint"] == job["fine_tuned_model"]
    assert page["data"][1]["fine_tuned_model_checkpoint"].endswith(":ckpt-step-200")
    second = oa.get(url, params={"limit": 1, "after": page["data"][0]["id"]}).json()
    assert [c["step_number"] for c in second["data"]] == [200] and second["has_more"] is True
    empty = oa.get(url, params={"after": page["last_id"]}).json()
    assert empty == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


def test_failure_carries_error_object_and_error_event(sim: Simulator, oa: httpx.Client) -> None:
    """openai_failure: error {code, param, message}, finished_at null, an error-level event."""
    handle = sim.add_scenario("openai_failure")
    sim.advance(60)
    job = oa.get(f"/fine_tuning/jobs/{handle.job_id}").json()
    assert job["status"] == "failed" and job["finished_at"] is None
    assert job["error"]["code"] == "invalid_training_file"
    assert job["error"]["param"] == "training_file"
    events = oa.get(f"/fine_tuning/jobs/{handle.job_id}/events").json()["data"]
    assert events[0]["level"] == "error"
    assert events[0]["message"].startswith("The job failed due to an invalid training file. ")


def test_error_placeholder_option() -> None:
    """`openai_error_placeholder=True`: non-failed jobs carry an all-null error object."""
    with Simulator(clock=ManualClock(START), openai_error_placeholder=True) as sim:
        ok = sim.add_scenario("openai_success")
        bad = sim.add_scenario("openai_failure")
        sim.advance(60)
        with client_for(sim, OPENAI_AUTH) as client:
            running = client.get(f"/fine_tuning/jobs/{ok.job_id}").json()
            failed = client.get(f"/fine_tuning/jobs/{bad.job_id}").json()
    assert running["error"] == {"code": None, "message": None, "param": None}
    assert failed["error"]["code"] == "invalid_training_file"


def test_nan_loss_is_json_nan(sim: Simulator, oa: httpx.Client) -> None:
    """openai_loss_nan serializes NaN as `NaN` on the wire."""
    handle = sim.add_scenario("openai_loss_nan")
    sim.advance_to(handle.at(600 + 90 * 9 + 1))
    response = oa.get(f"/fine_tuning/jobs/{handle.job_id}/events", params={"limit": 5})
    assert b'"train_loss":NaN' in response.content
    newest = response.json()["data"][0]
    assert math.isnan(newest["data"]["train_loss"]) and newest["message"].endswith("loss=nan")


def test_cancel_pause_resume(sim: Simulator, oa: httpx.Client) -> None:
    """POST cancel/pause/resume: paused, queued then running again, cancelled; bad moves 400."""
    handle = sim.add_scenario("openai_success")
    url = f"/fine_tuning/jobs/{handle.job_id}"
    assert oa.post(f"{url}/pause").status_code == 400  # still validating
    sim.advance_to(handle.at(1000))
    steps_before = oa.get(f"{url}/events", params={"limit": 1}).json()["data"][0]["data"]["step"]
    paused = oa.post(f"{url}/pause").json()
    assert paused["status"] == "paused" and paused["estimated_finish"] is None
    sim.advance(3600)
    newest = oa.get(f"{url}/events", params={"limit": 1}).json()["data"][0]
    assert newest["message"] == "Fine-tuning job paused"
    assert oa.post(f"{url}/resume").json()["status"] == "queued"
    sim.advance(61)
    job = oa.get(url).json()
    assert job["status"] == "running" and job["estimated_finish"] > job["created_at"]
    sim.advance(30)
    step = oa.get(f"{url}/events", params={"limit": 1}).json()["data"][0]["data"]["step"]
    assert step == steps_before + 3  # training picks up where it stopped
    cancelled = oa.post(f"{url}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None
    assert oa.post(f"{url}/cancel").status_code == 400


@pytest.mark.parametrize("limit", ["0", "abc", "-3"])
def test_bad_limit_is_400(oa: httpx.Client, limit: str) -> None:
    """An invalid `limit` answers 400 naming the parameter."""
    response = oa.get("/fine_tuning/jobs", params={"limit": limit})
    assert response.status_code == 400 and response.json()["error"]["param"] == "limit"


def test_unknown_job_is_the_real_404(oa: httpx.Client) -> None:
    """The recorded OpenAI 404 body: fine_tune_not_found, param fine_tune_id."""
    response = oa.get("/fine_tuning/jobs/ftjob-doesnotexist000000000000")
    assert response.status_code == 404
    assert response.json() == fixture("openai/error_404_not_found.json")["body"]
