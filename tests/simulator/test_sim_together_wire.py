"""The Together endpoints answer in the fixtures' wire shapes."""

from __future__ import annotations

import re

import httpx

from monitor.simulator import ManualClock, Simulator

from .conftest import START, TOGETHER_AUTH, client_for, fixture

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_list_is_truncated_unsorted_and_has_no_pagination(sim: Simulator, tg: httpx.Client) -> None:
    """GET /fine-tunes: every existing job, truncated keys in fixture order, `events: []`."""
    ids = [sim.add_scenario("together_success", at=-600 * i).job_id for i in range(8)]
    body = tg.get("/fine-tunes").json()
    assert set(body) == {"data"}
    listed = [job["id"] for job in body["data"]]
    assert sorted(listed) == sorted(ids)
    created = [job["created_at"] for job in body["data"]]
    assert created != sorted(created) and created != sorted(created, reverse=True)
    reference = fixture("together/list_jobs.json")["data"][0]
    for job in body["data"]:
        assert job["events"] == []
        assert [k for k in job if k != "started_at"] == [k for k in reference if k != "started_at"]
        assert ISO_MS.match(job["created_at"]) and ISO_MS.match(job["updated_at"])
    # The same order on every poll.
    assert [job["id"] for job in tg.get("/fine-tunes").json()["data"]] == listed


def test_full_job_matches_fixture_keys_while_running(sim: Simulator, tg: httpx.Client) -> None:
    """GET /fine-tunes/{id} while running has the running fixture's keys and types."""
    handle = sim.add_scenario("together_success")
    sim.advance_to(handle.at(760 + 1500 + 30))
    job = tg.get(f"/fine-tunes/{handle.job_id}").json()
    reference = fixture("together/job_running.json")
    assert list(job) == list(reference)
    for key, value in reference.items():
        assert type(job[key]) is type(value), key
    assert job["status"] == "running"
    assert job["epochs_completed"] == 1 and job["n_epochs"] == 3
    # the running stage began at JOB_START (720 s); training ends 40 + 3 × 1500 s later
    assert job["progress"] == {"estimate_available": True, "seconds_remaining": 4540}
    assert job["total_price"] == 4_280_000_000
    assert job["started_at"] == "2026-03-16T09:12:00.000Z"
    assert job["events"][0]["type"] == "JOB_PENDING" and job["events"][0]["level"] == ""
    event_keys = list(reference["events"][0])
    assert all(list(e) == event_keys for e in job["events"])


def test_completed_job_has_output_registry_fields_and_no_estimate(
    sim: Simulator, tg: httpx.Client
) -> None:
    """A completed job carries model_output_name, total_price and the model_object_* ids."""
    handle = sim.add_scenario("together_success")
    sim.advance_to(handle.end)
    job = tg.get(f"/fine-tunes/{handle.job_id}").json()
    assert list(job) == list(fixture("together/job_completed.json"))
    assert job["status"] == "completed"
    assert job["model_output_name"].endswith(f"-support-bot-{handle.job_id[3:11]}")
    assert job["total_price"] == 12_840_000_000
    assert job["progress"] == {"estimate_available": False, "seconds_remaining": 0}
    assert job["model_object_id"].startswith("ml_") and job["events"][-1]["type"] == "JOB_COMPLETE"


def test_pending_job_has_no_started_at(sim: Simulator, tg: httpx.Client) -> None:
    """`started_at` is absent before the job starts."""
    handle = sim.add_scenario("together_queue_stuck")
    job = tg.get(f"/fine-tunes/{handle.job_id}").json()
    assert job["status"] == "pending" and "started_at" not in job
    listed = tg.get("/fine-tunes").json()["data"][0]
    assert "started_at" not in listed


def test_events_oldest_first_with_documented_texts(sim: Simulator, tg: httpx.Client) -> None:
    """GET …/events: `{"data": [...]}` oldest first, UPPERCASE types, sample-log texts."""
    handle = sim.add_scenario("together_success")
    sim.advance_to(handle.end)
    events = tg.get(f"/fine-tunes/{handle.job_id}/events").json()["data"]
    times = [e["created_at"] for e in events]
    assert times == sorted(times)
    types = [e["type"] for e in events]
    assert types[:2] == ["JOB_PENDING", "JOB_START"]
    assert types[-6:] == [
        "TRAINING_COMPLETE",
        "MODEL_UPLOADING",
        "COMPRESSING_MODEL",
        "MODEL_COMPRESSION_COMPLETE",
        "MODEL_UPLOAD_COMPLETE",
        "JOB_COMPLETE",
    ]
    assert types.count("EPOCH_COMPLETE") == 3 and types.count("CHECKPOINT_SAVE") == 2
    by_type = {e["type"]: e for e in events}
    assert by_type["JOB_START"]["message"] == "Job started at Mon Mar 16 09:12:00 UTC 2026"
    assert by_type["EPOCH_COMPLETE"]["message"] == "Epoch completed, at step 300"
    assert by_type["WANDB_INIT"]["wandb_url"].startswith("https://wandb.ai/")
    assert re.match(
        r"Data downloaded for togethercomputer/.+__TOG__FT at 2026-03-16T09:12:19\.8",
        by_type["TRAINING_DATA_DOWNLOAD_COMPLETE"]["message"],
    )


def test_lowercase_option_serves_the_openapi_spelling() -> None:
    """`together_event_casing="lower"`: `model_compressing`, levels lowercase."""
    with Simulator(clock=ManualClock(START), together_event_casing="lower") as sim:
        handle = sim.add_scenario("together_success")
        sim.advance_to(handle.end)
        with client_for(sim, TOGETHER_AUTH) as client:
            events = client.get(f"/fine-tunes/{handle.job_id}/events").json()["data"]
    types = [e["type"] for e in events]
    assert "model_compressing" in types and "COMPRESSING_MODEL" not in types
    assert {e["level"] for e in events} == {"info"}
    assert types[0] == "job_pending"


def test_checkpoints_and_metrics(sim: Simulator, tg: httpx.Client) -> None:
    """Checkpoints `{"data": [...]}`; metrics `{"metrics": [...]}` with ns timestamps."""
    handle = sim.add_scenario("together_success")
    sim.advance_to(handle.end)
    checkpoints = tg.get(f"/fine-tunes/{handle.job_id}/checkpoints").json()["data"]
    assert [c["checkpoint_type"] for c in checkpoints] == [
        "Intermediate",
        "Intermediate",
        "Final Merged",
        "Final Adapter",
    ]
    assert list(checkpoints[0]) == list(fixture("together/checkpoints.json")["data"][0])
    assert [c["step"] for c in checkpoints] == [100, 200, 300, 300]
    metrics = tg.get(f"/fine-tunes/{handle.job_id}/metrics").json()["metrics"]
    train = [m for m in metrics if "train/loss" in m]
    assert len(train) == 60 and all(m["timestamp"] > 10**18 for m in metrics)
    assert [m["train/global_step"] for m in train] == list(range(5, 301, 5))
    assert sum("eval/loss" in m for m in metrics) == 3
    stamps = [m["timestamp"] for m in metrics]
    assert stamps == sorted(stamps)
    ranged = tg.get(
        f"/fine-tunes/{handle.job_id}/metrics",
        params={"global_step_from": 100, "global_step_to": 110},
    ).json()["metrics"]
    assert {m["train/global_step"] for m in ranged} == {100, 105, 110}


def test_cancel_answers_cancel_requested_then_cancelled(sim: Simulator, tg: httpx.Client) -> None:
    """POST …/cancel: truncated job in cancel_requested, cancelled shortly after."""
    handle = sim.add_scenario("together_success")
    sim.advance(1000)
    response = tg.post(f"/fine-tunes/{handle.job_id}/cancel")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancel_requested" and body["events"] == []
    assert list(body) == list(fixture("together/cancel_response.json"))
    sim.advance(31)
    job = tg.get(f"/fine-tunes/{handle.job_id}").json()
    assert job["status"] == "cancelled"
    assert [e["type"] for e in job["events"]][-2:] == ["CANCEL_REQUESTED", "JOB_STOPPED"]
    sim.advance(100_000)  # the rest of the script never plays
    assert tg.get(f"/fine-tunes/{handle.job_id}").json()["status"] == "cancelled"
    again = tg.post(f"/fine-tunes/{handle.job_id}/cancel")
    assert again.status_code == 400 and again.json()["error"]["type"] == "invalid_request_error"


def test_unknown_job_is_404_with_error_data(tg: httpx.Client) -> None:
    """An unknown id answers 404 `{"error": {message, type, param, code}}`."""
    response = tg.get("/fine-tunes/ft-00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_wrong_key_is_401(sim: Simulator) -> None:
    """A wrong or missing key answers 401 invalid_api_key."""
    with client_for(sim) as client:
        missing = client.get("/fine-tunes")
        wrong = client.get("/fine-tunes", headers={"Authorization": "Bearer sim-openai-key"})
    assert missing.status_code == wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"


def test_started_at_is_the_current_stage_start(sim: Simulator, tg: httpx.Client) -> None:
    """`started_at` is the start of the current stage: a queued job has one, and it moves
    when the job starts running (the spec's words; provider-apis.md section 4, item 2)."""
    handle = sim.add_scenario("together_success")
    sim.advance_to(handle.at(300))
    queued = tg.get(f"/fine-tunes/{handle.job_id}").json()
    assert queued["status"] == "queued"
    assert ISO_MS.match(queued["started_at"]) and queued["started_at"] > queued["created_at"]
    sim.advance_to(handle.at(800))
    running = tg.get(f"/fine-tunes/{handle.job_id}").json()
    assert running["status"] == "running" and running["started_at"] > queued["started_at"]


def test_a_log_line_need_not_move_updated_at() -> None:
    """A switch: whether Together's `updated_at` moves with a new log line is undocumented
    (provider-apis.md section 4, item 12), so the simulator can serve either."""
    for moves in (True, False):
        with Simulator(clock=ManualClock(START), together_log_moves_updated_at=moves) as sim:
            handle = sim.add_scenario("together_queue_stuck")
            sim.advance(3600)
            with client_for(sim, TOGETHER_AUTH) as tg:
                before = tg.get(f"/fine-tunes/{handle.job_id}").json()["updated_at"]
                sim.inject_event(handle.job_id, type="WARNING", message="Queue is busy")
                after = tg.get(f"/fine-tunes/{handle.job_id}").json()
            assert after["events"][-1]["message"] == "Queue is busy"
            assert (after["updated_at"] != before) is moves
