"""Scenario timelines: what each named scenario shows at several moments."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from monitor.simulator import SCENARIOS, Simulator, catalogue

FT_ID = re.compile(r"ft-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _tg_events(tg: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = tg.get(f"/fine-tunes/{job_id}/events").json()["data"]
    return events


def _oa_newest(oa: httpx.Client, job_id: str) -> dict[str, Any]:
    newest: dict[str, Any] = oa.get(
        f"/fine_tuning/jobs/{job_id}/events", params={"limit": 1}
    ).json()["data"][0]
    return newest


def test_catalogue_lists_every_required_scenario() -> None:
    """The catalogue names every scenario the monitor is tested against, with a line each."""
    required = {
        "together_success",
        "together_billing_limit",
        "together_wandb_user_error",
        "together_wandb_cancelled",
        "together_data_validation",
        "together_restart",
        "together_restart_no_id",
        "together_queue_stuck",
        "together_user_cancel",
        "together_eta_overrun",
        "together_progress_stall",
        "together_loss_nan",
        "openai_success",
        "openai_failure",
        "openai_cancel",
        "openai_pause_resume",
        "openai_eta_overrun",
        "openai_loss_nan",
        "openai_loss_spike",
        "openai_queue_stuck",
    }
    assert required <= set(catalogue())
    assert all(description and "\n" not in description for description in catalogue().values())


# (scenario, script offset in seconds, expected wire status, last event type (Together) or
# newest message (OpenAI); None: don't check)
TIMELINE = [
    ("together_success", 10, "pending", "JOB_PENDING"),
    ("together_success", 400, "queued", "JOB_PENDING"),
    ("together_success", 741, "running", "TRAINING_DATA_DOWNLOAD_COMPLETE"),
    ("together_success", 3000, "running", "CHECKPOINT_SAVE"),
    ("together_success", 5290, "compressing", "COMPRESSING_MODEL"),
    ("together_success", 5600, "uploading", "MODEL_COMPRESSION_COMPLETE"),
    ("together_success", 6000, "completed", "JOB_COMPLETE"),
    ("together_billing_limit", 4170.5, "running", "BILLING_LIMIT"),
    ("together_billing_limit", 4175, "cancel_requested", "CANCEL_REQUESTED"),
    ("together_billing_limit", 4300, "cancelled", "JOB_STOPPED"),
    ("together_wandb_user_error", 240, "user_error", "JOB_USER_ERROR"),
    ("together_wandb_cancelled", 229.5, "running", "WARNING"),
    ("together_wandb_cancelled", 300, "cancelled", "JOB_STOPPED"),
    ("together_data_validation", 400, "user_error", "JOB_USER_ERROR"),
    ("together_user_cancel", 2890, "cancel_requested", "CANCEL_REQUESTED"),
    ("together_user_cancel", 3000, "cancelled", "JOB_STOPPED"),
    ("together_queue_stuck", 12 * 3600, "queued", "JOB_PENDING"),
    ("together_progress_stall", 5 * 3600, "running", "EPOCH_COMPLETE"),
    ("together_eta_overrun", 7000, "running", "EPOCH_COMPLETE"),
    ("openai_success", 10, "validating_files", "Validating training file: "),
    ("openai_success", 100, "queued", "Files validated, moving job to queued state"),
    ("openai_success", 605, "running", "Fine-tuning job started"),
    ("openai_success", 4000, "succeeded", "The job has successfully completed"),
    ("openai_failure", 30, "failed", "The job failed due to an invalid training file."),
    ("openai_cancel", 700, "cancelled", "Fine-tuning job cancelled"),
    ("openai_pause_resume", 1000, "paused", "Fine-tuning job paused"),
    ("openai_pause_resume", 2680, "queued", "Fine-tuning job resumed"),
    ("openai_pause_resume", 2715, "running", "Fine-tuning job started"),
    ("openai_pause_resume", 4100, "succeeded", "The job has successfully completed"),
    ("openai_queue_stuck", 8 * 3600, "queued", "Files validated, moving job to queued state"),
]


@pytest.mark.parametrize(("name", "offset", "status", "last"), TIMELINE)
def test_timeline(
    sim: Simulator,
    tg: httpx.Client,
    oa: httpx.Client,
    name: str,
    offset: float,
    status: str,
    last: str,
) -> None:
    """Each scenario shows the scripted status and newest event at that moment."""
    handle = sim.add_scenario(name)
    sim.advance_to(handle.at(offset))
    if handle.provider == "together":
        job = tg.get(f"/fine-tunes/{handle.job_id}").json()
        assert job["status"] == status
        assert job["events"][-1]["type"] == last
    else:
        job = oa.get(f"/fine_tuning/jobs/{handle.job_id}").json()
        assert job["status"] == status
        assert _oa_newest(oa, handle.job_id)["message"].startswith(last)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_endpoint_answers_throughout(
    sim: Simulator, tg: httpx.Client, oa: httpx.Client, name: str
) -> None:
    """Every scenario serves every read endpoint at start, middle, end and long after."""
    handle = sim.add_scenario(name, time_scale=0.01)
    paths = {
        "together": [
            "/fine-tunes",
            "/fine-tunes/{id}",
            "/fine-tunes/{id}/events",
            "/fine-tunes/{id}/checkpoints",
            "/fine-tunes/{id}/metrics",
        ],
        "openai": [
            "/fine_tuning/jobs",
            "/fine_tuning/jobs/{id}",
            "/fine_tuning/jobs/{id}/events",
            "/fine_tuning/jobs/{id}/checkpoints",
        ],
    }[handle.provider]
    client = tg if handle.provider == "together" else oa
    for moment in (
        handle.start,
        handle.at(handle.duration / 0.02),
        handle.end,
        handle.end + timedelta(hours=6),
    ):
        sim.advance_to(max(moment, sim.now))
        for job_id in set(handle.job_ids) & set(sim.job_ids()):  # a restart's job comes later
            for path in paths:
                response = client.get(path.format(id=job_id))
                if path.endswith("/metrics") and handle.name == "together_no_metrics":
                    assert response.status_code == 404, response.text  # by design
                    continue
                assert response.status_code == 200, (path, response.text)


def test_time_scale_compresses_the_script(sim: Simulator, tg: httpx.Client) -> None:
    """time_scale=0.01 plays the 95-minute success script in under a minute."""
    handle = sim.add_scenario("together_success", time_scale=0.01)
    assert handle.duration == pytest.approx(56.67)
    sim.advance(57)
    job = tg.get(f"/fine-tunes/{handle.job_id}").json()
    assert job["status"] == "completed"
    assert job["created_at"] == "2026-03-16T09:00:00.000Z"
    assert job["updated_at"] == "2026-03-16T09:00:56.670Z"


def test_future_scenario_appears_at_its_start(sim: Simulator, tg: httpx.Client) -> None:
    """`at=` in the future: the job does not exist until then (404, not listed)."""
    handle = sim.add_scenario("together_success", at=120)
    assert tg.get("/fine-tunes").json()["data"] == []
    assert tg.get(f"/fine-tunes/{handle.job_id}").status_code == 404
    sim.advance(120)
    assert [j["id"] for j in tg.get("/fine-tunes").json()["data"]] == [handle.job_id]


def test_queue_depth_counts_down(sim: Simulator, tg: httpx.Client) -> None:
    """together_success: queue_depth decreases while queued, then 0 once running."""
    handle = sim.add_scenario("together_success")
    depths = []
    for offset in (60, 300, 600, 700, 800):
        sim.advance_to(handle.at(offset))
        depths.append(tg.get(f"/fine-tunes/{handle.job_id}").json()["queue_depth"])
    assert depths == [6, 4, 2, 1, 0]


@pytest.mark.parametrize("name", ["together_restart", "together_restart_no_id"])
def test_restart_creates_a_matching_job_right_then(
    sim: Simulator, tg: httpx.Client, name: str
) -> None:
    """JOB_ERROR → JOB_RESTARTED → REFUND; the new job (same model/file/suffix) appears
    in the list at the JOB_RESTARTED moment and runs to completion."""
    handle = sim.add_scenario(name)
    old, new = handle.job_ids
    restarted_at = handle.at(3860 + 98.9)
    sim.advance_to(restarted_at - timedelta(seconds=1))
    assert {j["id"] for j in tg.get("/fine-tunes").json()["data"]} == {old}
    assert _tg_events(tg, old)[-1]["type"] == "JOB_ERROR"
    sim.advance(5)
    listed = {j["id"]: j for j in tg.get("/fine-tunes").json()["data"]}
    assert set(listed) == {old, new}
    for key in ("model", "training_file", "suffix"):
        assert listed[new][key] == listed[old][key]
    events = _tg_events(tg, old)
    assert [e["type"] for e in events][-3:] == ["JOB_ERROR", "JOB_RESTARTED", "REFUND"]
    assert events[-3]["level"] == "Error" and "hardware" in events[-3]["message"]
    assert "$12.40" in events[-1]["message"]
    named = FT_ID.findall(events[-2]["message"])
    assert named == ([new] if name == "together_restart" else [])
    assert tg.get(f"/fine-tunes/{old}").json()["total_price"] == 0
    assert listed[old]["status"] == "error"
    sim.advance_to(handle.end)
    assert tg.get(f"/fine-tunes/{new}").json()["status"] == "completed"


def test_queue_stuck_stays_put(sim: Simulator, tg: httpx.Client) -> None:
    """together_queue_stuck: after twelve hours still queued, depth 14, one event, stale."""
    handle = sim.add_scenario("together_queue_stuck")
    sim.advance(12 * 3600)
    job = tg.get(f"/fine-tunes/{handle.job_id}").json()
    assert (job["status"], job["queue_depth"]) == ("queued", 14)
    assert [e["type"] for e in job["events"]] == ["JOB_PENDING"]
    assert job["updated_at"] == "2026-03-16T09:00:40.000Z"


def test_together_eta_runs_out_while_running(sim: Simulator, tg: httpx.Client) -> None:
    """together_eta_overrun: `seconds_remaining` is the stage's length from its `started_at`
    (720 s): it stays put while the job runs on past it, and events keep arriving."""
    handle = sim.add_scenario("together_eta_overrun")
    sim.advance_to(handle.at(760 + 600))
    job = tg.get(f"/fine-tunes/{handle.job_id}").json()
    assert job["progress"] == {"estimate_available": True, "seconds_remaining": 2440}
    assert job["started_at"] == _iso(handle.at(720))
    sim.advance_to(handle.at(760 + 2400 + 3600))
    job = tg.get(f"/fine-tunes/{handle.job_id}").json()
    assert job["status"] == "running" and job["progress"]["seconds_remaining"] == 2440
    before = len(job["events"])
    sim.advance(1800)
    assert len(_tg_events(tg, handle.job_id)) > before


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_progress_stall_goes_quiet(sim: Simulator, tg: httpx.Client) -> None:
    """together_progress_stall: running, nothing new for hours, no estimate."""
    handle = sim.add_scenario("together_progress_stall")
    sim.advance_to(handle.end)
    before = tg.get(f"/fine-tunes/{handle.job_id}").json()
    sim.advance(4 * 3600)
    after = tg.get(f"/fine-tunes/{handle.job_id}").json()
    assert after == before and after["status"] == "running"
    assert after["progress"]["estimate_available"] is False


def test_openai_eta_overrun(sim: Simulator, oa: httpx.Client) -> None:
    """openai_eta_overrun: still running an hour past estimated_finish, steps still coming."""
    handle = sim.add_scenario("openai_eta_overrun")
    sim.advance_to(handle.at(600 + 1200 + 3600))
    job = oa.get(f"/fine_tuning/jobs/{handle.job_id}").json()
    assert job["status"] == "running"
    assert sim.now.timestamp() - job["estimated_finish"] == pytest.approx(3600, abs=1)
    assert _oa_newest(oa, handle.job_id)["type"] == "metrics"


def test_loss_spike_is_five_times_the_recent_average(sim: Simulator, oa: httpx.Client) -> None:
    """openai_loss_spike: the loss at step 120 is about 5x the ten steps before it."""
    handle = sim.add_scenario("openai_loss_spike")
    sim.advance_to(handle.at(600 + 121 * 9))
    page = oa.get(f"/fine_tuning/jobs/{handle.job_id}/events", params={"limit": 12}).json()
    losses = {e["data"]["step"]: e["data"]["train_loss"] for e in page["data"]}
    recent = [losses[s] for s in range(110, 120)]
    assert losses[120] / (sum(recent) / len(recent)) > 4.5
    assert losses[121] < losses[120] / 3
