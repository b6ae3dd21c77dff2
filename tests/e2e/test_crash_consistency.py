"""Crash consistency: the real process killed between any two database statements.

`FTMON_CRASH_AFTER_STATEMENTS=N` makes the store SIGKILL its own process at the Nth SQL
statement, so a kill lands exactly between two statements rather than where luck puts it.
After every such crash, a clean rerun at the same moment must leave the outbox holding
every expected alert exactly once: the state and its alerts are committed together or
not at all.
"""

from __future__ import annotations

import shutil
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.simulator import ManualClock, Simulator
from tests.e2e.harness import outbox_keys, run_once, write_config

START = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
SCENARIOS = ("together_billing_limit", "together_restart", "openai_failure", "openai_success")


@pytest.fixture(scope="module")
def busy_poll(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A state file just before a poll that raises many alerts, and that poll's outcome."""
    tmp = tmp_path_factory.mktemp("crash")
    with Simulator(clock=ManualClock(START)) as sim:
        config = write_config(tmp, sim, thresholds={"queue_stall": "2h", "progress_stall": "2h"})
        assert run_once(config, sim.now).returncode == 0
        for name in SCENARIOS:
            sim.add_scenario(name, at=10, time_scale=0.05)
        sim.advance(60)
        assert run_once(config, sim.now).returncode in (0, 1, 2)
        before = tmp / "before.db"
        shutil.copy(tmp / "state.db", before)
        sim.advance(600)
        reference = run_once(config, sim.now)
        assert len(reference.alerts) >= 6, "the crash poll should raise many alerts"
        yield sim, config, before, sim.now, outbox_keys(tmp / "state.db")


def test_a_kill_at_any_statement_loses_and_repeats_nothing(busy_poll) -> None:  # type: ignore[no-untyped-def]
    """Killed at statement N (spread over the whole poll), then rerun: the outbox equals the
    uninterrupted run's, with no alert twice."""
    _sim, config, before, now, expected = busy_poll
    total = _statements_in_poll(config, before, now)
    points = sorted({1, 2, total - 1, total, *range(3, total, max(1, total // 12))})
    for crash_at in points:
        _restore(config, before)
        crashed = run_once(config, now, FTMON_CRASH_AFTER_STATEMENTS=str(crash_at))
        assert crashed.returncode == -signal.SIGKILL, f"no crash at statement {crash_at}"
        rerun = run_once(config, now)
        assert rerun.returncode in (0, 1, 2), rerun.stderr
        keys = outbox_keys(config.parent / "state.db")
        assert sorted(keys) == sorted(expected), f"crash at statement {crash_at} of {total}"
        assert len(keys) == len(set(keys))


def _restore(config: Path, before: Path) -> None:
    state = config.parent / "state.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    shutil.copy(before, state)


def _statements_in_poll(config: Path, before: Path, now: datetime) -> int:
    """How many statements the poll runs: the largest N at which the crash hook fires."""
    low, high = 1, 4096
    while low < high:
        mid = (low + high + 1) // 2
        _restore(config, before)
        fired = run_once(config, now, FTMON_CRASH_AFTER_STATEMENTS=str(mid)).returncode
        low, high = (mid, high) if fired == -signal.SIGKILL else (low, mid - 1)
    assert low > 5, "the poll should run more than a handful of statements"
    return low


def test_a_restarted_ftmon_alerts_what_changed_while_it_was_down(tmp_path: Path) -> None:
    """Changes while ftmon was down are alerted once on its next run, never again."""
    with Simulator(clock=ManualClock(START)) as sim:
        config = write_config(
            tmp_path, sim, thresholds={"queue_stall": "2h", "progress_stall": "2h"}
        )
        handle = sim.add_scenario("together_billing_limit", at=-60, time_scale=0.05)
        sim.add_scenario("openai_success", at=-60, time_scale=0.05)
        first = run_once(config, sim.now)
        assert first.returncode in (0, 1), first.stderr
        sim.advance(3600)  # ftmon is down while both jobs finish
        back = run_once(config, sim.now)
        again = run_once(config, sim.now)
    kinds = sorted((a["job"], a["kind"]) for a in back.alerts)
    assert (handle.job_id, "job.cancelled") in kinds
    assert any(kind == "job.succeeded" for _, kind in kinds)
    assert back.returncode == 2
    assert again.alerts == [] and again.returncode == 0
