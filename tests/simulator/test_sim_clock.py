"""Clocks and determinism: state is a pure function of the clock and the script."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from monitor.simulator import ManualClock, RealClock, Simulator

from .conftest import START


def test_manual_clock_moves_only_forward() -> None:
    """advance(seconds | timedelta) and set(); never backwards."""
    clock = ManualClock(START)
    assert clock.now() == START
    assert clock.advance(90) == START + timedelta(seconds=90)
    assert clock.advance(timedelta(minutes=1)) == START + timedelta(seconds=150)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(START)
    naive = ManualClock(datetime(2026, 1, 1))
    assert naive.now().tzinfo is UTC


def test_real_clock_runs_at_its_speed() -> None:
    """RealClock: start + elapsed wall time x speed."""
    clock = RealClock(speed=100, start=START)
    time.sleep(0.02)
    elapsed = (clock.now() - START).total_seconds()
    assert 2 <= elapsed < 60
    with pytest.raises(ValueError, match="positive"):
        RealClock(speed=0)


def test_same_seed_same_bytes() -> None:
    """Two simulators built alike serve identical payloads, whatever the path to `now`."""
    bodies = []
    for steps in ([3000], [100, 900, 2000]):
        sim = Simulator(clock=ManualClock(START), seed=7)
        tg = sim.add_scenario("together_success").job_id
        oa = sim.add_scenario("openai_success").job_id
        for seconds in steps:
            sim.advance(seconds)
            sim.status(tg)  # folds at intermediate times in the second run
        with sim.world.lock:
            now = sim.clock.timestamp()
            bodies.append(
                (
                    sim.world.together_list_body(now),
                    sim.api.tg_retrieve({"id": tg}, {}, now).body,
                    sim.api.oa_events({"id": oa}, {}, now).body,
                    sim.api.oa_checkpoints({"id": oa}, {}, now).body,
                )
            )
    assert bodies[0] == bodies[1]


def test_advance_refuses_a_real_clock() -> None:
    """Only a ManualClock can be advanced."""
    sim = Simulator(clock=RealClock())
    with pytest.raises(TypeError, match="ManualClock"):
        sim.advance(1)
