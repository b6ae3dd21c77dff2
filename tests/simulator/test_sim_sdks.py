"""Faithfulness: the official SDKs read every simulator endpoint into their own models."""

from __future__ import annotations

import math
from datetime import datetime

import openai
import together

from monitor.simulator import Simulator


def test_openai_sdk_reads_jobs_events_and_checkpoints(sim: Simulator) -> None:
    """openai.OpenAI: list (auto-paging), retrieve, list_events, checkpoints.list, actions."""
    done = sim.add_scenario("openai_success", at=-4000)
    failed = sim.add_scenario("openai_failure", at=-100)
    for i in range(9):
        sim.add_scenario("openai_queue_stuck", at=-30 * i)
    client = openai.OpenAI(base_url=sim.base_url, api_key="sim-openai-key", max_retries=0)
    with client:
        jobs = list(client.fine_tuning.jobs.list(limit=3))  # four pages
        assert len(jobs) == 11 and len({j.id for j in jobs}) == 11
        assert [j.created_at for j in jobs] == sorted((j.created_at for j in jobs), reverse=True)
        assert sim.stats()["requests"]["GET /v1/fine_tuning/jobs"] == 4

        job = client.fine_tuning.jobs.retrieve(done.job_id)
        assert job.status == "succeeded" and job.object == "fine_tuning.job"
        assert job.fine_tuned_model and job.fine_tuned_model.startswith("ft:gpt-4o-mini")
        assert job.trained_tokens == 412_830 and isinstance(job.finished_at, int)
        assert job.hyperparameters.n_epochs == 3 and job.result_files[0].startswith("file-")
        assert job.integrations and job.integrations[0].wandb.project == "openai-ft"
        assert job.metadata == {"team": "support"} and job.error is None

        bad = client.fine_tuning.jobs.retrieve(failed.job_id)
        assert bad.status == "failed" and bad.error is not None
        assert bad.error.code == "invalid_training_file" and bad.error.param == "training_file"

        events = list(client.fine_tuning.jobs.list_events(done.job_id, limit=100))
        assert len(events) == 308
        assert events[0].message == "The job has successfully completed"
        metrics = [e for e in events if e.type == "metrics"]
        data = metrics[0].data
        assert len(metrics) == 300 and isinstance(data, dict)
        assert data["step"] == 300 and isinstance(data["train_loss"], float)
        assert all(e.level == "info" for e in events)

        checkpoints = list(client.fine_tuning.jobs.checkpoints.list(done.job_id, limit=2))
        assert [c.step_number for c in checkpoints] == [300, 200, 100]
        assert checkpoints[0].fine_tuned_model_checkpoint == job.fine_tuned_model
        assert checkpoints[1].metrics.train_loss is not None
        assert all(c.fine_tuning_job_id == done.job_id for c in checkpoints)

        stuck = jobs[0]
        assert client.fine_tuning.jobs.cancel(stuck.id).status == "cancelled"


def test_openai_sdk_pause_and_resume(sim: Simulator) -> None:
    """The SDK's pause/resume calls see `paused`, then `queued`."""
    handle = sim.add_scenario("openai_cancel", at=-400)
    with openai.OpenAI(base_url=sim.base_url, api_key="sim-openai-key", max_retries=0) as client:
        # `paused` is not in the SDK's status Literal, but it is what the API answers.
        assert str(client.fine_tuning.jobs.pause(handle.job_id).status) == "paused"
        assert client.fine_tuning.jobs.resume(handle.job_id).status == "queued"


def test_together_sdk_reads_jobs_events_checkpoints_and_metrics(sim: Simulator) -> None:
    """together.Together: list, retrieve, list_events, list_checkpoints, list_metrics, cancel.

    The together SDK (3.x) adds `/v1` to its paths itself, so it takes `sim.root_url`.
    """
    done = sim.add_scenario("together_success", at=-6000)
    restart = sim.add_scenario("together_restart", at=-4100)
    running = sim.add_scenario("together_user_cancel", at=-1500)
    client = together.Together(base_url=sim.root_url, api_key="sim-together-key", max_retries=0)
    with client:
        listed = client.fine_tuning.list().data
        assert {j.id for j in listed} == {done.job_id, *restart.job_ids, running.job_id}
        assert all(j.events == [] and isinstance(j.created_at, datetime) for j in listed)
        by_id = {j.id: j for j in listed}
        old, new = restart.job_ids
        assert (by_id[old].status, by_id[new].status) == ("error", "queued")
        assert by_id[new].training_file == by_id[old].training_file
        assert by_id[new].suffix == by_id[old].suffix == "summarizer-v2"

        job = client.fine_tuning.retrieve(done.job_id)
        assert job.status == "completed" and job.epochs_completed == 3
        assert job.total_price == 12_840_000_000 and job.x_model_output_name
        assert job.progress is not None and job.progress.estimate_available is False
        # The wire spells event types UPPERCASE; the SDK's Literal has the OpenAPI spelling.
        assert job.events and str(job.events[-1].type) == "JOB_COMPLETE"

        live = client.fine_tuning.retrieve(running.job_id)
        assert live.status == "running" and live.started_at is not None
        # stage-anchored: the running stage's expected length, counted from its started_at
        assert live.progress is not None and live.progress.seconds_remaining == 4500 + 40

        events = client.fine_tuning.list_events(old).data
        assert [str(e.type) for e in events][-3:] == ["JOB_ERROR", "JOB_RESTARTED", "REFUND"]
        assert new in events[-2].message and "$12.40" in events[-1].message
        assert str(events[-3].level) == "Error" and events[-3].step == 967

        checkpoints = client.fine_tuning.list_checkpoints(done.job_id).data
        assert [c.checkpoint_type for c in checkpoints][-2:] == ["Final Merged", "Final Adapter"]
        assert checkpoints[0].step == 100 and checkpoints[0].checkpoint == "model"

        metrics = client.fine_tuning.list_metrics(done.job_id).metrics or []
        assert len(metrics) == 63 and not any(math.isnan(m.get("train/loss", 0)) for m in metrics)

        cancelled = client.fine_tuning.cancel(running.job_id)
        assert cancelled.status == "cancel_requested"
