"""Two teams share one Together account and one OpenAI project; nobody wants the nightly
experiments. The real `ftmon run --once`, run like cron against the simulator, with a
real webhook receiver per team's channel:

- each team's channel receives exactly its own jobs' alerts (a restarted job's successor
  included), with what routing matched on in the label line (`suffix=`, `team=`);
- the jobs the watch filters leave out cost no request after the list (the simulator
  counts requests per job), are not tracked, and raise nothing;
- widening a watch filter mid-run re-alerts nothing;
- `test-notify --job` shows, through the same routing, where a job's alerts go.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.core.alerts import Alert
from monitor.simulator import SCENARIOS, ManualClock, Simulator
from tests.e2e.harness import ftmon, ftmon_env, run_once
from tests.receivers import HttpReceiver

START = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)
STEP_SECONDS = 150
STEPS = 12
LABEL_METADATA = ["team"]

# team -> (scenario, job fields) of its jobs; "ignored" is what the watch filters leave out
JOBS = {
    "search": [
        ("together_billing_limit", {"suffix": "search-ranker"}),
        ("together_restart", {"suffix": "search-retriever"}),
    ],
    "support": [
        ("openai_failure", {"metadata": {"team": "support"}}),
        ("openai_success", {"metadata": {"team": "support", "cost_center": "cs-7"}}),
    ],
    "ignored": [
        ("together_success", {"suffix": "nightly-exp"}),
        ("openai_cancel", {"metadata": {"team": "research"}}),
    ],
}


def config_text(tmp: Path, sim: Simulator, receiver: HttpReceiver, together_watch: str) -> str:
    hook = f"json://127.0.0.1:{receiver.port}"
    return f"""
[monitor]
state = "{tmp / "state.db"}"
first_run = "alert"
log_format = "json"
label_metadata = ["team"]

[[providers]]
name = "together-sim"
kind = "together"
api_key = "${{TOGETHER_KEY}}"
base_url = "{sim.base_url}"
watch = {together_watch}

[[providers]]
name = "openai-sim"
kind = "openai"
api_key = "${{OPENAI_KEY}}"
base_url = "{sim.base_url}"
watch = {{ metadata = {{ team = ["support", "search"] }} }}

[[channels]]
name = "search-ml"
url = "{hook}/search"

[[channels]]
name = "support-ml"
url = "{hook}/support"

[[routes]]
channels = ["search-ml"]
suffix = "search-*"
group_wait = "0s"

[[routes]]
channels = ["support-ml"]
metadata = {{ team = "support" }}
group_wait = "0s"
"""


@dataclass
class TeamsRun:
    state: Path
    config: Path
    owners: dict[str, str]  # job id -> team
    receiver: HttpReceiver
    requests_by_job: dict[str, int]
    widened_alerts: list[dict[str, object]]
    widened_deliveries: int
    preview: str


@pytest.fixture(scope="module")
def teams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamsRun]:
    tmp = tmp_path_factory.mktemp("teams")
    receiver = HttpReceiver()
    try:
        with Simulator(clock=ManualClock(START)) as sim:
            config = tmp / "ftmon.toml"
            config.write_text(config_text(tmp, sim, receiver, '{ suffix = "search-*" }'))
            owners: dict[str, str] = {}
            for team, jobs in JOBS.items():
                for name, fields in jobs:
                    scale = min(1.0, 1200 / SCENARIOS[name].duration)
                    handle = sim.add_scenario(name, at=30, time_scale=scale, fields=fields)
                    owners.update(dict.fromkeys(handle.job_ids, team))
            for _ in range(STEPS):
                sim.advance(STEP_SECONDS)
                done = run_once(config, sim.now)
                assert done.returncode in (0, 1, 2), done.stderr
            by_job = dict(sim.stats()["requests_by_job"])
            delivered = len(receiver.requests)
            wide = '{ suffix = ["search-*", "nightly-*"] }'
            config.write_text(config_text(tmp, sim, receiver, wide))
            widened = run_once(config, sim.now)
            assert widened.returncode == 0, widened.stderr
            support_job = next(j for j, t in owners.items() if t == "support")
            shown = ftmon(
                ["test-notify", "-c", str(config), "--job", support_job], ftmon_env(sim.now)
            )
            assert shown.returncode == 0, shown.stderr
            yield TeamsRun(
                state=tmp / "state.db",
                config=config,
                owners=owners,
                receiver=receiver,
                requests_by_job=by_job,
                widened_alerts=widened.alerts,
                widened_deliveries=len(receiver.requests) - delivered,
                preview=shown.stdout,
            )
    finally:
        receiver.close()


def outbox(state: Path) -> list[Alert]:
    with sqlite3.connect(state) as conn:
        rows = conn.execute("SELECT payload FROM alerts ORDER BY id").fetchall()
    return [Alert.from_json(payload) for (payload,) in rows]


def received(receiver: HttpReceiver, channel: str) -> Counter[str]:
    lines: Counter[str] = Counter()
    for request in receiver.bodies(f"/{channel}"):
        message = json.loads(request.body)["message"]
        lines.update(line for line in message.splitlines() if line.startswith("kind="))
    return lines


def team_of(alert: Alert, owners: dict[str, str]) -> str:
    return owners.get(alert.job_id or "", "-")


@pytest.mark.parametrize(("team", "channel"), [("search", "search"), ("support", "support")])
def test_each_team_receives_exactly_its_jobs_alerts(
    teams: TeamsRun, team: str, channel: str
) -> None:
    """A team's channel got one label line per alert about its jobs, and nothing else."""
    expected = Counter(
        a.label_line(LABEL_METADATA)
        for a in outbox(teams.state)
        if team_of(a, teams.owners) == team
    )
    assert expected, f"the {team} jobs raised nothing"
    assert received(teams.receiver, channel) == expected


def test_the_scenarios_facts_reached_their_teams(teams: TeamsRun) -> None:
    """The failures people care about are there, a restart's successor included, and the
    label line carries what routing matched on."""
    search = received(teams.receiver, "search")
    support = received(teams.receiver, "support")
    assert any("kind=job.cancelled" in line and "cause=billing_limit" in line for line in search)
    assert any("kind=job.restarted" in line for line in search)
    assert any("original_job=" in line and "kind=job.succeeded" in line for line in search)
    assert all(" suffix=search-" in line for line in search)
    assert any("kind=job.failed" in line and "cause=invalid_file" in line for line in support)
    assert all(line.endswith(" team=support") for line in support)
    assert not any("cost_center" in line for line in support)  # not named in label_metadata


def test_ignored_jobs_cost_no_request_and_raise_nothing(teams: TeamsRun) -> None:
    """Jobs the watch filters leave out are only ever seen in the lists."""
    ignored = [j for j, t in teams.owners.items() if t == "ignored"]
    watched = [j for j, t in teams.owners.items() if t != "ignored"]
    assert all(teams.requests_by_job.get(job, 0) == 0 for job in ignored)
    assert all(teams.requests_by_job.get(job, 0) > 0 for job in watched)
    assert not [a for a in outbox(teams.state) if team_of(a, teams.owners) == "ignored"]


def test_widening_the_watch_filter_re_alerts_nothing(teams: TeamsRun) -> None:
    """The nightly job the wider filter now takes finished long ago: recorded silently;
    nothing already sent is sent again."""
    assert teams.widened_alerts == []
    assert teams.widened_deliveries == 0


def test_test_notify_shows_where_a_jobs_alerts_go(teams: TeamsRun) -> None:
    """`test-notify --job` names the route that takes the job and the channels per kind."""
    lines = teams.preview.splitlines()
    assert "watch filter of openai-sim: follows this job" in lines
    assert "job.failed (failure) -> support-ml" in lines
    assert any(line.startswith("route 0 ") and "takes nothing" in line for line in lines)
    assert any(line.startswith("route 1 ") and "takes job.started" in line for line in lines)
