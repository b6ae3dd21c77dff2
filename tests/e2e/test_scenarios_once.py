"""Every scripted scenario, end to end through `ftmon run --once` as time advances.

All scenarios run at once in one simulator (compressed to about 20 simulated minutes
each), and the real `ftmon run --once` process polls them every 2.5 simulated minutes,
as a cron job would. The outbox must then hold exactly the expected alerts, each once,
and a further run must add nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.simulator import SCENARIOS, ManualClock, Simulator
from tests.e2e.harness import outbox_facts, outbox_keys, run_once, write_config

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
THRESHOLDS = {"queue_stall": "5m", "progress_stall": "20m", "eta_grace": "2m", "repeat": "6h"}
STEP_SECONDS = 150
STEPS = 22

INCIDENT_ALERTS = 1  # its firing: the stuck job keeps it open to the end
STARTED = ("job.started", None)
SUCCEEDED = ("job.succeeded", None)

# scenario -> the (kind, cause) facts its jobs raise, in any order; conditions appear as
# their firing and resolved alerts.
EXPECTED: dict[str, list[tuple[str, str | None]]] = {
    "together_success": [STARTED, SUCCEEDED],
    "together_billing_limit": [STARTED, ("job.cancelled", "billing_limit")],
    "together_wandb_user_error": [STARTED, ("job.failed", "wandb_auth")],
    "together_wandb_cancelled": [STARTED, ("job.cancelled", "wandb_auth")],
    "together_data_validation": [STARTED, ("job.failed", "data_validation")],
    "together_restart": [
        STARTED,
        ("job.failed", "provider_error"),
        ("job.restarted", "provider_error"),
        ("job.refunded", None),
        STARTED,
        SUCCEEDED,
    ],
    "together_restart_no_id": [
        STARTED,
        ("job.failed", "provider_error"),
        ("job.restarted", "provider_error"),
        ("job.refunded", None),
        STARTED,
        SUCCEEDED,
    ],
    "together_queue_stuck": [("job.queue_stalled", None)],
    "together_user_cancel": [STARTED, ("job.cancelled", "user_requested")],
    "together_eta_overrun": [
        STARTED,
        ("job.eta_overrun", None),
        ("job.eta_overrun", None),
        SUCCEEDED,
    ],
    # a stuck job also runs past its estimate: both conditions fire
    "together_progress_stall": [STARTED, ("job.progress_stalled", None), ("job.eta_overrun", None)],
    "together_loss_nan": [STARTED, ("job.loss_anomaly", "loss_nan"), SUCCEEDED],
    "openai_success": [STARTED, SUCCEEDED],
    "openai_failure": [("job.failed", "invalid_file")],
    "openai_cancel": [STARTED, ("job.cancelled", "user_requested")],
    "openai_pause_resume": [STARTED, ("job.paused", None), ("job.resumed", None), SUCCEEDED],
    "openai_eta_overrun": [
        STARTED,
        ("job.eta_overrun", None),
        ("job.eta_overrun", None),
        SUCCEEDED,
    ],
    "openai_loss_nan": [STARTED, ("job.loss_anomaly", "loss_nan"), SUCCEEDED],
    "openai_loss_spike": [STARTED, ("job.loss_anomaly", "loss_spike"), SUCCEEDED],
    "openai_queue_stuck": [("job.queue_stalled", None)],
    # the real semantics (provider-apis.md section 4): the alerts that must arrive and,
    # by their absence from each row, the ones that must not
    "together_queue_estimate": [STARTED, SUCCEEDED],  # no overrun from a queue estimate
    "together_cancel_quiet_balance": [STARTED, ("job.cancelled", "billing_limit")],
    "together_cancel_unexplained": [STARTED, ("job.cancelled", "unknown")],
    "together_queued_cancel": [("job.cancelled", "user_requested")],  # never started
    "together_float_steps_nan": [STARTED, ("job.loss_anomaly", "loss_nan"), SUCCEEDED],
    "together_no_metrics": [STARTED, SUCCEEDED],
    "together_early_stopped": [STARTED, SUCCEEDED],
    "openai_eta_zero": [STARTED, SUCCEEDED],  # no overrun from estimated_finish 0
    "openai_resubmit": [STARTED, ("job.failed", "provider_error"), STARTED, SUCCEEDED],
}


@pytest.fixture(scope="module")
def cron_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, str], list[int]]]:
    """Run every scenario under a cron-like `--once` loop; yield state, job->scenario, exits."""
    tmp = tmp_path_factory.mktemp("scenarios")
    with Simulator(clock=ManualClock(START)) as sim:
        config = write_config(tmp, sim, thresholds=THRESHOLDS)
        first = run_once(config, sim.now)
        assert first.returncode == 0, first.stderr
        owners: dict[str, str] = {}
        for name, scenario in SCENARIOS.items():
            handle = sim.add_scenario(name, at=30, time_scale=min(1.0, 1200 / scenario.duration))
            owners.update(dict.fromkeys(handle.job_ids, name))
        exits = []
        for _ in range(STEPS):
            sim.advance(STEP_SECONDS)
            done = run_once(config, sim.now)
            assert done.returncode in (0, 1, 2), done.stderr
            exits.append(done.returncode)
        again = run_once(config, sim.now)
        assert again.alerts == [] and again.returncode == 0
        yield tmp / "state.db", owners, exits


def test_every_scenario_raises_exactly_its_alerts(
    cron_run: tuple[Path, dict[str, str], list[int]],
) -> None:
    """Each scenario's jobs raise exactly the expected facts (restarted jobs included)."""
    state, owners, _ = cron_run
    got: dict[str, Counter[tuple[str, str | None]]] = {name: Counter() for name in SCENARIOS}
    about_providers: Counter[str] = Counter()
    for job, kind, cause in outbox_facts(state):
        if job == "-":  # about a provider, not a job
            about_providers[kind] += 1
            continue
        got[_owner(job, owners, state)][(kind, cause)] += 1
    expected = {name: Counter(facts) for name, facts in EXPECTED.items()}
    assert got == expected
    # all at once, Together's two restarts and its stuck queue are three jobs in trouble on
    # the provider's side within the window: one incident (the per-job facts stay above)
    assert about_providers == Counter({"monitor.provider_incident": INCIDENT_ALERTS})


def test_no_alert_is_enqueued_twice(cron_run: tuple[Path, dict[str, str], list[int]]) -> None:
    """Dedup keys are unique across every run."""
    keys = outbox_keys(cron_run[0])
    assert len(keys) == len(set(keys))


def test_exit_statuses_follow_what_each_run_raised(
    cron_run: tuple[Path, dict[str, str], list[int]],
) -> None:
    """Runs that raised failures exit 2, warnings only 1, nothing 0."""
    exits = cron_run[2]
    assert 2 in exits and 0 in exits


def _owner(job: str, owners: dict[str, str], state: Path) -> str:
    """A restart's new job belongs to its original job's scenario."""
    if job in owners:
        return owners[job]
    import sqlite3

    with sqlite3.connect(state) as conn:
        row = conn.execute(
            "SELECT json_extract(state, '$.restart.of') FROM jobs WHERE job_id = ?", (job,)
        ).fetchone()
    return owners[row[0]]


def test_the_queue_stall_names_the_queue_position(
    cron_run: tuple[Path, dict[str, str], list[int]],
) -> None:
    """Together's list lacks `queue_depth`: the stall alert's retrieve brings it (14)."""
    state, owners, _ = cron_run
    stalls = [
        payload
        for job, payload in _payloads(state, "job.queue_stalled")
        if owners.get(job) == "together_queue_stuck" and payload.get("state") == "firing"
    ]
    assert len(stalls) == 1
    assert stalls[0]["facts"]["queue_depth"] == 14
    assert "queue position 14" in stalls[0]["summary"]


def test_early_stopping_is_in_the_success_message(
    cron_run: tuple[Path, dict[str, str], list[int]],
) -> None:
    """The success message says the job stopped early, at which step, with the best metric."""
    state, owners, _ = cron_run
    done = [
        payload
        for job, payload in _payloads(state, "job.succeeded")
        if owners.get(job) == "together_early_stopped"
    ]
    assert len(done) == 1
    assert "stopped early at step 200 (best metric 0.412)" in done[0]["summary"]


def _payloads(state: Path, kind: str) -> list[tuple[str, dict[str, object]]]:
    import json
    import sqlite3

    with sqlite3.connect(state) as conn:
        rows = conn.execute(
            "SELECT job_id, payload FROM alerts WHERE kind = ? ORDER BY id", (kind,)
        ).fetchall()
    return [(job, json.loads(payload)) for job, payload in rows]
