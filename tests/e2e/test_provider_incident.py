"""`monitor.provider_incident` through the real pipeline: the simulator fails many OpenAI jobs
on the provider's side within minutes while `ftmon run --once` polls as a cron job would.
One incident message reaches the real HTTP receiver; the per-job messages it covers are
held back but kept (explain and status show them, marked); the first failure of the burst
was told at once, a user-caused failure in the middle of it is told as always, and the
incident resolves once a window passes without trouble."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.simulator import SCENARIOS, ManualClock, RealClock, Simulator
from tests.e2e.harness import ftmon, ftmon_env, outbox_facts, run_once, write_config
from tests.e2e.test_daemon import labels, start_daemon, stop, wait_for
from tests.receivers import HttpReceiver, free_port

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
SLOW = {"queue_stall": "6h", "progress_stall": "6h", "eta_grace": "6h"}
INCIDENTS = '\n[incidents]\nmin_jobs = 3\nwindow = "10m"\nhold = "3m"\n'
SERVER_ERROR = {"code": "server_error", "message": "The job failed due to an internal error."}
BAD_FILE = {"code": "invalid_training_file", "message": "The training file is invalid.",
            "param": "training_file"}  # fmt: skip


def _fail(sim: Simulator, job: str, error: dict[str, Any]) -> None:
    sim.inject_fields(job, {"error": {"param": None, **error}})
    sim.inject_status(job, "failed")


def _told(receiver: HttpReceiver) -> list[str]:
    """The label line of every message the receiver took, in order."""
    lines = []
    for request in receiver.requests:
        message = request.json()["message"]
        lines += [line for line in message.splitlines() if line.startswith("kind=")]
    return lines


def _config(tmp_path: Path, sim: Simulator, receiver: HttpReceiver) -> Path:
    """Both simulated providers, slow stalls, the incident settings, one webhook receiver."""
    return write_config(
        tmp_path,
        sim,
        thresholds=SLOW,
        channels={"hook": f"json://127.0.0.1:{receiver.port}/"},
        extra=INCIDENTS,
    )


def test_a_burst_of_provider_failures_is_one_incident(tmp_path: Path) -> None:
    receiver = HttpReceiver()
    try:
        with Simulator(clock=ManualClock(START)) as sim:
            config = _config(tmp_path, sim, receiver)
            jobs = [
                sim.add_scenario("openai_success", at=-120, time_scale=20).job_id for _ in range(6)
            ]
            assert run_once(config, sim.now).returncode == 0  # baseline: all running
            first, second, third, fourth, fifth, users = jobs

            _fail(sim, first, SERVER_ERROR)  # a lone failure: told at once
            sim.advance(60)
            run_once(config, sim.now)
            after_first = _told(receiver)

            _fail(sim, second, SERVER_ERROR)  # a burst may be starting: held for 3m
            sim.advance(60)
            run_once(config, sim.now)
            after_second = _told(receiver)

            for job in (third, fourth):  # the incident begins; a user's mistake meanwhile
                _fail(sim, job, SERVER_ERROR)
            _fail(sim, users, BAD_FILE)
            sim.advance(60)
            firing = run_once(config, sim.now)
            after_firing = _told(receiver)

            _fail(sim, fifth, SERVER_ERROR)  # during the incident: covered at once
            sim.advance(60)
            run_once(config, sim.now)
            env = ftmon_env(sim.now)
            explained = ftmon(["explain", "--json", fourth, "-c", str(config)], env)
            explained_table = ftmon(["explain", fifth, "-c", str(config)], env)
            status = ftmon(["status", "--json", "-c", str(config)], env)
            status_table = ftmon(["status", "-c", str(config)], env)

            sim.advance(11 * 60)  # a whole window without trouble
            run_once(config, sim.now)
            sim.advance(60)
            again = run_once(config, sim.now)
    finally:
        receiver.close()

    incident = "kind=monitor.provider_incident severity=failure provider=openai-sim"
    ended = "kind=monitor.provider_incident severity=info provider=openai-sim state=resolved"
    assert after_first == [f"kind=job.failed severity=failure cause=provider_error "
                           f"provider=openai-sim job={first} model=gpt-4o-mini-2024-07-18 "
                           "suffix=support-bot"]  # fmt: skip
    assert after_second == after_first  # the second waits for the burst to show
    new = after_firing[len(after_first) :]
    assert f"{incident} state=firing" in new
    assert any(f"cause=invalid_file provider=openai-sim job={users}" in line for line in new)
    assert not any(f"job={job}" in line for line in new for job in (second, third, fourth))
    assert firing.returncode == 2, firing.stderr
    assert firing.summary["delivery"]["inhibited"] == 3  # the second, third and fourth

    told = _told(receiver)
    assert told.count(f"{incident} state=firing") == 1
    (body,) = [r.json()["message"] for r in receiver.requests
               if f"{incident} state=firing" in r.json()["message"]]  # fmt: skip
    assert "4 jobs hit trouble on the provider's side within 10m" in body
    assert all(job in body for job in (first, second, third, fourth))
    assert "Status page: https://status.openai.com" in body and "support" in body
    assert told.count(ended) == 1
    assert [line for line in told if "cause=provider_error" in line] == after_first
    assert again.alerts == []

    # nothing is lost: every failure is in the outbox, and explain / status show it
    failures = [job for job, kind, _ in outbox_facts(tmp_path / "state.db") if kind == "job.failed"]
    assert sorted(failures) == sorted(jobs)
    story = json.loads(explained.stdout)
    (failed,) = [a for a in story["alerts"] if a["kind"] == "job.failed"]
    (row,) = failed["deliveries"]
    assert row["status"] == "inhibited"
    assert "covered by monitor.provider_incident of openai-sim" in row["last_error"]
    assert "-> hook: inhibited (held back: covered by monitor.provider_incident" in (
        explained_table.stdout
    )
    page = json.loads(status.stdout)
    (openai,) = [p for p in page["providers"] if p["provider"] == "openai-sim"]
    assert openai["incident"] is not None
    assert set(openai["incident"]["jobs"]) == {first, second, third, fourth, fifth}
    marked = {j["job"] for j in page["jobs"] if j["incident_since"]}
    assert marked == {first, second, third, fourth, fifth}  # not the user's own failure
    assert "INCIDENT since" in status_table.stdout and "[incident]" in status_table.stdout


def test_jobs_stuck_in_one_queue_are_one_incident(tmp_path: Path) -> None:
    """Three OpenAI jobs stall in the queue at once: one warning incident, their stall
    messages held back; a lone stalled Together job is told on its own, as always."""
    receiver = HttpReceiver()
    try:
        with Simulator(clock=ManualClock(START)) as sim:
            config = write_config(
                tmp_path,
                sim,
                thresholds={**SLOW, "queue_stall": "5m"},
                channels={"hook": f"json://127.0.0.1:{receiver.port}/"},
                extra=INCIDENTS,
            )
            assert run_once(config, sim.now).returncode == 0
            stuck = [sim.add_scenario("openai_queue_stuck").job_id for _ in range(3)]
            alone = sim.add_scenario("together_queue_stuck").job_id
            for _ in range(4):
                sim.advance(150)
                run_once(config, sim.now)
    finally:
        receiver.close()
    told = _told(receiver)
    assert (
        told.count(
            "kind=monitor.provider_incident severity=warning provider=openai-sim state=firing"
        )
        == 1
    )
    assert not any(f"job={job}" in line for line in told for job in stuck)
    assert any(f"kind=job.queue_stalled severity=warning provider=together-sim job={alone}"
               in line for line in told)  # fmt: skip
    stalls = [job for job, kind, _ in outbox_facts(tmp_path / "state.db")
              if kind == "job.queue_stalled"]  # fmt: skip
    assert sorted(stalls) == sorted([*stuck, alone])  # each stall kept, only the three held


def test_reads_the_api_keeps_failing_for_are_one_incident(tmp_path: Path) -> None:
    """The job list answers but every job's log read gets a 503: the jobs cannot be
    watched, which is the provider's trouble too. One warning incident names them (no
    per-job message exists to hold); it resolves once reads answer again for a window."""
    receiver = HttpReceiver()
    try:
        with Simulator(clock=ManualClock(START)) as sim:
            config = _config(tmp_path, sim, receiver)
            jobs = [
                sim.add_scenario("openai_success", at=-120, time_scale=20).job_id for _ in range(3)
            ]
            assert run_once(config, sim.now).returncode == 0
            sim.faults.fail(503, count=None, path="*/events*", provider="openai")
            failing = []
            for _ in range(3):
                sim.advance(6 * 60)  # a running job's log is read at least every 5 minutes
                failing.append(run_once(config, sim.now))
            sim.faults.clear()
            for _ in range(2):
                sim.advance(6 * 60)
                run_once(config, sim.now)
    finally:
        receiver.close()
    told = [a for run in failing for a in run.alerts if a["kind"] == "monitor.provider_incident"]
    assert len(told) == 1 and told[0]["severity"] == "warning"
    assert "could not be read (API errors)" in told[0]["summary"]
    assert all(job in told[0]["summary"] for job in jobs)
    labels = _told(receiver)
    assert labels == [
        "kind=monitor.provider_incident severity=warning provider=openai-sim state=firing",
        "kind=monitor.provider_incident severity=info provider=openai-sim state=resolved",
    ]


def test_the_daemon_holds_back_a_burst_and_tells_the_end(tmp_path: Path) -> None:
    """The real `ftmon run` daemon in real time: the burst's first failure is told, the
    incident comes instead of the next three, and its end is told once the window passes
    quietly; the held-back rows are logged with their reason."""
    receiver = HttpReceiver()
    try:
        with Simulator(clock=RealClock()) as sim:
            config = write_config(
                tmp_path,
                sim,
                thresholds={"queue_stall": "1h", "progress_stall": "1h", "eta_grace": "1h"},
                channels={"hook": f"json://127.0.0.1:{receiver.port}/"},
                first_run="alert",
                poll_interval="1s",
                listen=f"127.0.0.1:{free_port()}",
                extra='\n[incidents]\nmin_jobs = 3\nwindow = "8s"\nhold = "4s"\n',
            )
            scale = 600 / SCENARIOS["openai_success"].duration  # running for minutes
            jobs = [
                sim.add_scenario("openai_success", at=-30, time_scale=scale).job_id
                for _ in range(4)
            ]
            daemon = start_daemon(config, tmp_path)
            try:
                wait_for(lambda: "READY=1" in "".join(daemon.messages()), what="READY=1")
                _fail(sim, jobs[0], SERVER_ERROR)
                wait_for(lambda: any(f"job={jobs[0]}" in line for line in labels(receiver)),
                         what="the first failure")  # fmt: skip
                for job in jobs[1:]:
                    _fail(sim, job, SERVER_ERROR)
                wait_for(lambda: any("state=resolved" in line for line in labels(receiver)),
                         timeout=60, what="the incident's end")  # fmt: skip
                assert daemon.logged("delivery_inhibited")
            finally:
                assert stop(daemon) == 0
    finally:
        receiver.close()
    told = labels(receiver)
    assert [line.split(" job=")[0] for line in told] == [
        "kind=job.failed severity=failure cause=provider_error provider=openai-sim",
        "kind=monitor.provider_incident severity=failure provider=openai-sim state=firing",
        "kind=monitor.provider_incident severity=info provider=openai-sim state=resolved",
    ]


def test_a_pair_that_never_becomes_an_incident_is_told_after_the_hold(tmp_path: Path) -> None:
    """Two provider-side failures are no incident: the second waits its hold across
    `--once` runs (it stays in the state), then goes out on its own; nothing is lost."""
    receiver = HttpReceiver()
    try:
        with Simulator(clock=ManualClock(START)) as sim:
            config = _config(tmp_path, sim, receiver)
            first, second = (
                sim.add_scenario("openai_success", at=-120, time_scale=20).job_id for _ in range(2)
            )
            assert run_once(config, sim.now).returncode == 0
            _fail(sim, first, SERVER_ERROR)
            sim.advance(60)
            run_once(config, sim.now)
            _fail(sim, second, SERVER_ERROR)
            sim.advance(60)
            held = run_once(config, sim.now)
            during = _told(receiver)
            sim.advance(4 * 60)  # past the 3m hold
            run_once(config, sim.now)
    finally:
        receiver.close()
    assert held.summary["delivery"]["waiting"] == 1
    assert [line.split(" job=")[1].split()[0] for line in during] == [first]
    told = _told(receiver)
    assert [line.split(" job=")[1].split()[0] for line in told] == [first, second]
    assert not any("provider_incident" in line for line in told)
