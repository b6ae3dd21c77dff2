"""`ftmon run --once` exit statuses, `ftmon status` and `ftmon demo`, as real processes."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

from monitor import config as config_mod
from monitor.simulator import ManualClock, Simulator
from tests.e2e.harness import ftmon, ftmon_env, hooked, run_once, write_config
from tests.receivers import free_port

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
SLOW = {"queue_stall": "30m", "progress_stall": "2h", "eta_grace": "2h"}


def test_exit_0_when_nothing_happened(tmp_path: Path) -> None:
    """No jobs, both providers answer: 0."""
    with Simulator(clock=ManualClock(START)) as sim:
        done = run_once(write_config(tmp_path, sim, thresholds=SLOW), sim.now)
    assert done.returncode == 0, done.stderr
    assert [p["ok"] for p in done.summary["providers"]] == [True, True]


def test_exit_1_when_only_a_warning_was_raised(tmp_path: Path) -> None:
    """A job stuck in the queue is a warning: 1."""
    with Simulator(clock=ManualClock(START)) as sim:
        config = write_config(tmp_path, sim, thresholds=SLOW)
        assert run_once(config, sim.now).returncode == 0
        sim.add_scenario("openai_queue_stuck", at=-3600)
        done = run_once(config, sim.now)
    assert done.returncode == 1, done.alerts
    assert {a["kind"] for a in done.alerts} == {"job.queue_stalled"}


def test_exit_2_when_a_failure_was_raised_even_with_a_provider_down(tmp_path: Path) -> None:
    """A failure outranks an unpolled provider: 2."""
    with Simulator(clock=ManualClock(START)) as sim:
        config = write_config(tmp_path, sim, thresholds=SLOW)
        assert run_once(config, sim.now).returncode == 0
        sim.add_scenario("openai_failure", at=-600)
        sim.faults.fail(503, count=None, provider="together")
        done = run_once(config, sim.now)
    assert done.returncode == 2
    assert [p["ok"] for p in done.summary["providers"]] == [False, True]


def test_exit_3_when_a_provider_cannot_be_reached(tmp_path: Path) -> None:
    """Nothing listening at the provider's address: 3, and no job alert."""
    dead = f"http://127.0.0.1:{free_port()}/v1"
    done = run_once(write_config(tmp_path, dead, thresholds=SLOW), START)
    assert done.returncode == 3
    assert all(not p["ok"] for p in done.summary["providers"])
    assert done.alerts == []


def test_exit_78_for_a_bad_config(tmp_path: Path) -> None:
    """A bad config names the file and the key, and exits 78 from every command."""
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", thresholds={"queue_stall": "soon"})
    for command in (["run", "--once"], ["run"], ["status"], ["test-notify"], ["check-config"]):
        done = ftmon([*command, "-c", str(config)], ftmon_env())
        assert done.returncode == 78, (command, done.stderr)
        assert str(config) in done.stderr and "thresholds.queue_stall" in done.stderr


def test_status_shows_jobs_restarts_and_the_outbox(tmp_path: Path) -> None:
    """`ftmon status` lists tracked jobs with progress and restart links; --json too."""
    with hooked(tmp_path, START, thresholds=SLOW) as (sim, config, _):
        assert run_once(config, sim.now).returncode == 0
        restart = sim.add_scenario("together_restart", at=5, time_scale=0.1)
        sim.add_scenario("openai_success", at=5, time_scale=0.1)
        sim.advance(700)
        run_once(config, sim.now)
        env = ftmon_env(sim.now)
        table = ftmon(["status", "-c", str(config)], env)
        as_json = ftmon(["status", "--json", "-c", str(config)], env)
    assert table.returncode == 0, table.stderr
    old, new = restart.job_ids
    assert old in table.stdout and f"-> {new}" in table.stdout and f"<- {old}" in table.stdout
    assert "hook: sent" in table.stdout
    report = json.loads(as_json.stdout)
    assert {j["job"] for j in report["jobs"]} >= {old, new}
    assert report["outbox"]["totals"].get("sent", 0) >= 4
    assert "sim-together-key" not in table.stdout + as_json.stdout


def test_status_only_reads_a_state_file_that_is_there(tmp_path: Path) -> None:
    """A mistyped state path is a config error naming it (exit 78), and nothing is created;
    a file that is not ftmon's is refused (as `run` refuses it), untouched."""
    with Simulator(clock=ManualClock(START)) as sim:
        config = write_config(tmp_path, sim)
        typo = tmp_path / "elsewhere" / "state.db"
        mistyped = config.read_text().replace(str(tmp_path / "state.db"), str(typo))
        assert mistyped != config.read_text()
        config.write_text(mistyped)
        env = ftmon_env(sim.now)
        missing = ftmon(["status", "-c", str(config)], env)
        assert missing.returncode == 78
        assert str(typo) in missing.stderr and "monitor.state" in missing.stderr
        assert not typo.exists() and not typo.parent.exists()
        typo.parent.mkdir()
        with sqlite3.connect(typo) as other:  # someone else's database
            other.execute("CREATE TABLE notes (body TEXT)")
        before = typo.read_bytes()
        foreign = ftmon(["status", "-c", str(config)], env)
        assert foreign.returncode == 70, foreign.stderr
        assert f"{typo}: this file is not an ftmon state database" in foreign.stderr
        assert typo.read_bytes() == before


def test_demo_shows_alerts_as_they_are_delivered() -> None:
    """The README's main command: simulator, real daemon and console receiver, no setup;
    the OpenAI failure (26 s in) is pushed by its webhook, and the demo says so."""
    from monitor.commands import demo

    out = StringIO()
    assert demo.main([], out=out, seconds=34) == 0
    text = out.getvalue()
    assert "ftmon demo: the simulator serves" in text
    assert "kind=job.started" in text
    failed = text.index("kind=job.failed severity=failure cause=invalid_file provider=openai-sim")
    assert text[failed:].splitlines()[1].strip().startswith("↳ pushed by OpenAI's webhook")
    assert "JOBS (" in text and "OUTBOX" in text
    # the demo's Together jobs pass its $20 budget while they run; the ledger closes it
    assert "kind=monitor.budget severity=warning provider=together-sim" in text
    assert "Cost of the jobs submitted since" in text and "price not given" in text


def test_the_demo_holds_no_message_past_its_end(tmp_path: Path) -> None:
    """The demo's Together job stuck in the queue follows a provider-side failure, so its
    message waits [incidents].hold: that wait must end while the demo still watches (the
    default 3m held it past the demo's 50s, and it was never shown)."""
    from monitor.commands import demo

    env = {
        "FTMON_SIM_URL": "http://127.0.0.1:9/v1",
        "FTMON_DEMO_LISTEN": "",
        "FTMON_DEMO_STATE": str(tmp_path / "s.db"),
        "FTMON_DEMO_CHANNEL": "json://127.0.0.1:9/",
    }
    config = config_mod.load(demo.demo_config_path(), env)
    stuck_at = dict(demo.DEMO_SCENARIOS)["together_queue_stuck"]
    told_by = stuck_at + (config.thresholds.queue_stall + config.incidents.hold).total_seconds()
    assert told_by + 3 * config.monitor.poll_interval.total_seconds() < demo.RUN_SECONDS


def test_status_shows_together_progress_the_list_lacks(tmp_path: Path) -> None:
    """Together's job list has no epochs or steps; the retrieve brings them, so `status`
    shows a running Together job's progress and its anchored estimate."""
    with Simulator(clock=ManualClock(START)) as sim:
        config = write_config(tmp_path, sim, thresholds=SLOW)
        assert run_once(config, sim.now).returncode == 0
        handle = sim.add_scenario("together_success", at=-(760 + 1500 + 300))  # epoch 2
        run_once(config, sim.now)
        sim.advance(60)
        run_once(config, sim.now)
        report = json.loads(
            ftmon(["status", "--json", "-c", str(config)], ftmon_env(sim.now)).stdout
        )
    (row,) = [j for j in report["jobs"] if j["job"] == handle.job_id]
    assert row["progress"].endswith("1/3") and row["eta"] != "-"


def test_the_incident_line_counts_its_jobs_and_says_when_messages_are_held() -> None:
    """The first job of a burst was told before the incident began: the line says the
    messages are held while it lasts, not that every marked job's message was."""
    from monitor.commands import status

    incident = {"since": "2026-11-04T09:03:00+00:00", "jobs": ["ft-a"]}
    providers = [
        {"provider": "together-prod", "failing_since": None, "last_error": None,
         "last_success_at": "2026-11-04T09:04:00+00:00", "incident": incident},
    ]  # fmt: skip
    outbox = {"totals": {}, "unrouted": 0, "unmatched": 0, "by_channel": {},
              "disabled_channels": [], "last_errors": {}, "oldest_pending_at": None}  # fmt: skip
    text = status.render_table([], providers, outbox)
    assert (
        "INCIDENT since 2026-11-04T09:03:00+00:00: 1 job in trouble on the provider's side "
        "(marked [incident]); their messages are held back while it lasts"
    ) in text
