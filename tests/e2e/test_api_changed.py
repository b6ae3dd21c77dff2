"""`monitor.api_changed` through the real pipeline: the simulator starts sending values
ftmon does not know (a status, an event type, a level, a price as text); each is told once,
routed and delivered like every kind, and never again on later polls."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.harness import hooked, outbox_facts, run_once

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
SLOW = {"queue_stall": "6h", "progress_stall": "6h", "eta_grace": "6h"}


def test_each_new_value_is_told_once_with_an_example_job(tmp_path: Path) -> None:
    with hooked(tmp_path, START, thresholds=SLOW) as (sim, config, receiver):
        together = sim.add_scenario("together_success", at=-60)
        openai = sim.add_scenario("openai_success", at=-60)
        assert run_once(config, sim.now).returncode == 0  # baseline: nothing new yet
        sim.inject_event(together.job_id, type="JOB_WARMUP", message="Warming up", level="Notice")
        sim.inject_fields(together.job_id, {"total_price": "12400000000"})
        sim.inject_status(openai.job_id, "preempted")
        sim.advance(60)
        changed = run_once(config, sim.now)
        sim.advance(60)
        again = run_once(config, sim.now)
    told = [a for a in changed.alerts if a["kind"] == "monitor.api_changed"]
    assert changed.returncode == 1, changed.alerts  # a warning
    assert {(a["provider"], a["summary"].split(":")[1].split("(")[0].strip()) for a in told} == {
        ("together-sim", "'JOB_WARMUP'"),
        ("together-sim", "'Notice'"),
        ("together-sim", "'text instead of number'"),
        ("openai-sim", "'preempted'"),
    }
    assert all(a["severity"] == "warning" and a["job"] is None for a in told)
    assert any(f"first on job {openai.job_id}" in a["summary"] for a in told)
    assert [a for a in again.alerts if a["kind"] == "monitor.api_changed"] == []
    facts = outbox_facts(tmp_path / "state.db")
    assert sum(1 for _, kind, _ in facts if kind == "monitor.api_changed") == 4
    bodies = "\n".join(r.json()["message"] for r in receiver.requests)
    assert "kind=monitor.api_changed severity=warning provider=openai-sim" in bodies
    assert "API sent a new status: preempted" in "\n".join(
        r.json()["title"] for r in receiver.requests
    )
