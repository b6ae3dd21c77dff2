"""A state file written by the previous release (schema 5: flat job states, no ledger)
opened by today's ftmon, as a user upgrading in place would: `status`, `explain` and `cost`
read it, `run --once` upgrades it, and the jobs go on where they were, nothing lost and no
alert told twice.

The file comes from `tests/fixtures/state/schema5.sql`, a dump of what that release itself
wrote against the same simulator script (the SQL's header says how), so no old code is
imported here and the layout is the old one byte for byte.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

from monitor.simulator import ManualClock, Simulator
from tests.e2e.harness import ftmon, ftmon_env, outbox_keys, run_once, write_config
from tests.receivers import HttpReceiver

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
FIXTURE = Path(__file__).parents[1] / "fixtures" / "state" / "schema5.sql"
SLOW = {"queue_stall": "30m", "progress_stall": "2h", "eta_grace": "2h"}
FAILED = "ft-9ffd041d-9eb6-4a48-bc1c-737f7ebde982"  # restarted by Together, refunded
SUCCESSOR = "ft-781ebacb-409d-4c6e-84a1-7fd0e0dd201e"  # the job that replaced it, running
RUNNING = "ft-6d4f92a7-aa1c-4532-9d9a-16143f9e0cee"  # together_success, running
OPENAI = "ftjob-oQh86ODjH0L0PxRumq5LjLcq"  # finished before the upgrade


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _lines(done: CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return {line["key"]: line for line in json.loads(done.stdout)["lines"]}


def _old_state(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(FIXTURE.read_text())
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
        states = [json.loads(r[0]) for r in conn.execute("SELECT state FROM jobs")]
        assert all("restarted_as" in s and "log" not in s for s in states)  # the flat layout
        return [r[0] for r in conn.execute("SELECT dedup_key FROM alerts ORDER BY id")]
    finally:
        conn.close()


def test_a_schema5_state_is_read_then_upgraded_with_nothing_lost_or_told_twice(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.db"
    told_before = _old_state(state)
    receiver = HttpReceiver()
    try:
        with Simulator(clock=ManualClock(START)) as sim:
            for name in ("together_restart", "together_success", "openai_success"):
                sim.add_scenario(name, at=0)
            sim.advance_to(START + timedelta(seconds=4300))  # where the old release stopped
            hook = {"hook": f"json://127.0.0.1:{receiver.port}/"}
            config = write_config(tmp_path, sim, thresholds=SLOW, channels=hook)
            env, c = ftmon_env(sim.now), str(config)
            status = ftmon(["status", "--json", "-c", c], env)
            explain = ftmon(["explain", SUCCESSOR, "--json", "-c", c], env)
            cost_before = ftmon(["cost", "-c", c], env)
            read_only = _version(state)
            upgrade = run_once(config, sim.now)
            sent_at_upgrade = len(receiver.requests)
            cost = ftmon(["cost", "--json", "-c", c], env)
            sim.advance_to(START + timedelta(seconds=8600))  # both Together jobs complete
            end = run_once(config, sim.now)
            explain_end = ftmon(["explain", FAILED, "-c", c], ftmon_env(sim.now))
            cost_end = ftmon(["cost", "--json", "-c", c], ftmon_env(sim.now))
    finally:
        receiver.close()

    # Read before the upgrade, without writing: every job, its restart link, the outbox.
    assert read_only == 5
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    jobs = {j["job"]: j for j in report["jobs"]}
    assert set(jobs) == {FAILED, SUCCESSOR, RUNNING, OPENAI}
    assert jobs[FAILED]["restart"] == f"-> {SUCCESSOR}"
    assert jobs[SUCCESSOR]["restart"] == f"<- {FAILED}"
    assert jobs[FAILED]["last_alert"].startswith("job.refunded")
    assert report["outbox"]["totals"] == {"sent": 8}
    assert explain.returncode == 0, explain.stderr
    story = json.loads(explain.stdout)
    assert [j["job"] for j in story["chain"]] == [FAILED, SUCCESSOR]
    assert story["chain"][0]["restarted_as"] == SUCCESSOR
    told = [(a["kind"], [d["status"] for d in a["deliveries"]]) for a in story["alerts"]]
    assert told == [
        ("job.started", ["sent"]), ("job.failed", ["sent"]), ("job.restarted", ["sent"]),
        ("job.refunded", ["sent"]), ("job.started", ["sent"]),
    ]  # fmt: skip
    assert cost_before.returncode == 70
    assert "predates the cost ledger; `ftmon run` (or `run --once`) upgrades it" in (
        cost_before.stderr
    )

    # The upgrade: nothing new happened, so nothing is told; the ledger is filled.
    assert (upgrade.returncode, upgrade.alerts, sent_at_upgrade) == (0, [], 0), upgrade.stderr
    assert _version(state) > 5
    lines = _lines(cost)
    assert (lines["together-sim"]["work"], lines["together-sim"]["jobs"]) == (2, 3)
    assert lines["together-sim"]["net_usd"] == 8.56  # the running job's two epochs so far
    assert lines["openai-sim"]["price_not_given"] == 1

    # The jobs go on from where the old release left them: two completions, each told once.
    assert end.returncode == 0, end.stderr
    assert sorted((a["kind"], a["job"]) for a in end.alerts) == sorted(
        [("job.succeeded", RUNNING), ("job.succeeded", SUCCESSOR)]
    )
    keys = outbox_keys(state)
    assert keys[: len(told_before)] == told_before and len(keys) == len(set(keys))
    assert len(keys) == len(told_before) + 2
    labels = [
        line for r in receiver.requests for line in r.json()["message"].splitlines()
        if line.startswith("kind=")
    ]  # fmt: skip
    assert sorted(label.split()[0] for label in labels) == ["kind=job.succeeded"] * 2
    assert explain_end.returncode == 0, explain_end.stderr
    assert "Cost: $18.60" in explain_end.stdout  # the chain once: the refunded job nets $0
    # $12.84 completed + the chain's $18.60 (the refund's amount predates the ledger:
    # docs/operations.md says an upgrade cannot recover it, and the net is right)
    assert _lines(cost_end)["together-sim"]["net_usd"] == 31.44
