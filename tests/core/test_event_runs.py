"""A page of log lines is remembered a run at a time (`events.absorb_events`); that must
leave exactly the state and alerts of reading the lines one by one, whatever they mean and
however far past the seen-keys cap they go."""

from __future__ import annotations

import pytest

from monitor.core.alerts import Alert
from monitor.core.diff import diff
from monitor.core.events import SEEN_KEYS_CAP, absorb_events
from monitor.core.memory import JobState
from monitor.core.model import JobEvent, JobSnapshot, Level
from monitor.core.settings import Thresholds
from tests.core.factories import NEW_JOB, at, event, together

LINES = [event("message", f"step {i}", minutes=2 + i / 100) for i in range(SEEN_KEYS_CAP + 30)]


def _one_by_one(
    state: JobState, lines: list[JobEvent], snapshot: JobSnapshot
) -> tuple[JobState, list[Alert]]:
    alerts: list[Alert] = []
    for line in lines:
        state, raised = absorb_events(state, [line], snapshot)
        alerts += raised
    return state, alerts


@pytest.mark.parametrize(
    "lines",
    [
        # plain lines only, past the cap: compacted once, the floor at the line that overflowed
        LINES,
        # a restart line in the middle: its alert quotes the lines read before it
        [*LINES[:50], event("job_restarted", f"restarted as {NEW_JOB}", minutes=3), *LINES[50:60]],
        # a refund line and a restart line naming no job, back to back
        [
            *LINES[:3],
            event("refund", "refunded $12.50", minutes=3),
            event("job_restarted", minutes=3.5),
        ],
        # an error line and a training line among plain ones
        [
            *LINES[:5],
            event("message", "boom", minutes=3, level=Level.ERROR),
            event("training_start", "training started", minutes=3.1),
            *LINES[5:9],
            event("epoch_complete", "epoch 1 done", minutes=4),
            event("early_stopped", "stopped early", minutes=4.5, data={"best_step": 7}),
        ],
        # nothing new
        [],
    ],
)
def test_a_run_of_lines_is_remembered_as_line_by_line(lines: list[JobEvent]) -> None:
    """Same state (keys, floor, recent lines, signals, progress) and same alerts."""
    snapshot = together("running", updated_at=at(1), started_at=at(1), n_epochs=3)
    state, _ = diff(None, snapshot, (), at(1), Thresholds())
    assert absorb_events(state, lines, snapshot) == _one_by_one(state, lines, snapshot)
