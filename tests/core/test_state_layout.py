"""A job state written by ftmon before the nested layout (schema 5) reads as today's."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.core.memory import Condition, Fact, JobState, Signal

FLAT = Path(__file__).parent / "fixtures" / "job_state_schema5.json"
T0 = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)


def test_a_flat_state_keeps_everything_it_knew() -> None:
    """Written by the schema-5 code (the fixture was produced by it): every group is filled,
    counted facts become counts and spiked steps, and nothing is lost."""
    state = JobState.from_json(FLAT.read_text())
    assert state.facts == {Fact.STARTED, Fact.REFUNDED}
    assert (state.pauses, state.resumes) == (2, 1)
    assert state.signals == {Signal.STARTED, Signal.BILLING_LIMIT}
    assert state.log.seen_keys == ("e1", "e2") and state.log.floor == T0
    assert state.log.last_key == "e2" and state.log.recent[0].endswith("job_start: go")
    assert state.loss.recent[:2] == (1.0, 0.9) and math.isnan(state.loss.recent[2])
    assert state.loss.checked_step == 130 and state.loss.spiked_steps == {"120"}
    assert state.restart.of == "ft-old" and state.restart.successor is None
    progress = state.progress
    assert (progress.step, progress.total_steps, progress.epochs, progress.n_epochs) == (
        130,
        400,
        1,
        3,
    )
    assert progress.at == T0 + timedelta(minutes=5)
    assert progress.training_started_at == T0 + timedelta(minutes=1)
    assert (progress.eta, progress.epoch_eta) == (T0 + timedelta(hours=2), T0 + timedelta(hours=3))
    marks = state.marks
    assert marks.snapshot == "abc" and marks.log_spacing == 12.5 and marks.losses_missing == 1
    assert marks.log_read_at == T0 + timedelta(minutes=9)
    assert marks.losses_retry_at == T0 + timedelta(minutes=20)
    assert marks.progress_read_at == T0 + timedelta(minutes=7)
    assert state.conditions == {
        "job.progress_stalled": Condition(since=T0, notified_at=T0, reminders=1)
    }
    assert (state.price_usd, state.suffix) == (4.25, "demo")


def test_a_regrouped_state_is_written_back_nested() -> None:
    """Once read, a state is written in today's layout and reads back the same."""
    state = JobState.from_json(FLAT.read_text())
    written = json.loads(state.to_json())
    assert "seen_keys" not in written and written["log"]["seen_keys"] == ["e1", "e2"]
    assert JobState.from_json(state.to_json()).to_json() == state.to_json()  # NaN != NaN
