"""`ftmon explain` as a real process against the simulator: a tracked restart chain with
its deliveries (one channel working, one refusing), and a job ftmon never tracked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from monitor.simulator import ManualClock, Simulator
from tests.e2e.harness import ftmon, ftmon_env, run_once, write_config
from tests.receivers import HttpReceiver

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
SLOW = {"queue_stall": "30m", "progress_stall": "2h", "eta_grace": "2h"}


def test_explain_tells_a_restart_chain_and_where_each_alert_went(tmp_path: Path) -> None:
    """Asked about the OLD job of a restart, explain tells the whole chain: both status
    paths, each alert with the channel that took it (and the one that refused it, with its
    error), the new job's success, the chain's price counted once, and the link."""
    good, bad = HttpReceiver(), HttpReceiver()
    bad.answer_always(404)
    try:
        with Simulator(clock=ManualClock(START)) as sim:
            config = write_config(
                tmp_path,
                sim,
                thresholds=SLOW,
                channels={"hook": f"json://127.0.0.1:{good.port}/",
                          "broken": f"json://127.0.0.1:{bad.port}/"},
            )  # fmt: skip
            assert run_once(config, sim.now).returncode == 0
            restart = sim.add_scenario("together_restart", at=5, time_scale=0.1)
            for _ in range(3):  # while it runs, after the restart, after the new job's end
                sim.advance(restart.duration / 3 + 10)
                run_once(config, sim.now)
            env = ftmon_env(sim.now)
            old, new = restart.job_ids
            table = ftmon(["explain", old, "-c", str(config)], env)
            as_json = ftmon(["explain", "--json", new, "-c", str(config)], env)
    finally:
        good.close()
        bad.close()
    assert table.returncode == 0, table.stderr
    text = table.stdout
    assert f"restart chain of 2: {old} -> {new}" in text
    assert f"JOB {old}: failed (error)" in text and f"JOB {new}: succeeded (completed)" in text
    assert "job.restarted" in text and "job.refunded" in text and "job.succeeded" in text
    assert "-> hook: sent at 2026-" in text
    assert "-> broken: failed, 1 attempt(s), last error: HTTP 404" in text
    assert "Next step: Nothing: the job succeeded" in text
    assert f"Link: https://api.together.ai/fine-tuning/{new}" in text
    story = json.loads(as_json.stdout)
    assert [j["job"] for j in story["chain"]] == [old, new]
    assert story["price_usd"] == [0.0, 18.6]  # the refunded job is not charged twice
    assert story["cost"] == "$18.60 (charged $31.00, refunded $12.40)"  # the ledger's net
    kinds = [a["kind"] for a in story["alerts"]]
    assert {"job.restarted", "job.refunded", "job.succeeded"} <= set(kinds)
    rows = [d for a in story["alerts"] for d in a["deliveries"]]
    assert {d["status"] for d in rows if d["channel"] == "hook"} == {"sent"}
    refused = [d for d in rows if d["channel"] == "broken" and d["status"] == "failed"]
    assert refused and "404" in refused[0]["last_error"]
    assert refused[0]["attempts"][-1]["outcome"] == "permanent"
    assert "-> broken: pending (channel disabled since 2026-" in text
    assert "sim-together-key" not in text + as_json.stdout


def test_explain_fetches_a_job_ftmon_never_tracked(tmp_path: Path) -> None:
    """No state file at all: the job is fetched once, its cause and next step told from
    its error, with the alerts ftmon would raise; nothing is stored. An id no provider
    knows exits 1 naming what each provider answered."""
    with Simulator(clock=ManualClock(START)) as sim:
        failure = sim.add_scenario("openai_failure", at=-600)
        config = write_config(tmp_path, sim, thresholds=SLOW)
        env = ftmon_env(sim.now)
        told = ftmon(["explain", failure.job_id, "-c", str(config)], env)
        unknown = ftmon(["explain", "ftjob-nosuchjob", "-c", str(config)], env)
    assert told.returncode == 0, told.stderr
    assert "(not tracked by ftmon: fetched now)" in told.stdout
    assert f"JOB {failure.job_id}: failed" in told.stdout
    assert "ALERTS ftmon would raise (none sent)" in told.stdout and "job.failed" in told.stdout
    assert "Cause: invalid training file" in told.stdout
    assert "Cost: price not given" in told.stdout
    assert f"Link: https://platform.openai.com/finetune/{failure.job_id}" in told.stdout
    assert not (tmp_path / "state.db").exists()
    assert unknown.returncode == 1
    assert "ftjob-nosuchjob is not tracked and no provider knows it" in unknown.stderr
    assert "openai-sim: not found" in unknown.stderr
