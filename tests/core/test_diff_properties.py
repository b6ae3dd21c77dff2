"""Properties of the diff engine over random histories (hypothesis).

A history is a realistic Together job: a path of statuses, each step appending to the
log. However the history is cut into polls, the set of one-time facts is the same: no
alert lost by polling slower, none repeated by polling faster.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.alerts import Alert
from monitor.core.diff import diff
from monitor.core.memory import JobState
from monitor.core.model import JobEvent, JobSnapshot, Level
from monitor.core.settings import Thresholds
from tests.core.factories import NEW_JOB, at, event, together

# Conditions depend on time, not on facts; keep them out of the way.
TH = replace(
    Thresholds(),
    queue_stall=timedelta(days=30),
    progress_stall=timedelta(days=30),
    eta_grace=timedelta(days=30),
)

Step = tuple[str, list[JobEvent]]

ENDINGS: dict[str, list[Step]] = {
    "completed": [
        ("running", [event("epoch_complete", "Epoch completed, at step 10", 20)]),
        ("compressing", [event("model_compressing", "Compressing output model", 30)]),
        ("uploading", [event("model_compression_complete", "Model compression complete", 31)]),
        ("completed", [event("job_complete", "Job finished", 40)]),
    ],
    "billing": [
        ("running", [event("billing_limit", "Balance too low", 20, level=Level.ERROR)]),
        ("cancel_requested", [event("cancel_requested", "Cancel requested", 21)]),
        ("cancelled", [event("job_stopped", "Job stopped", 22)]),
    ],
    "validation": [
        (
            "user_error",
            [event("job_user_error", "Training data validation failed", 9, level=Level.ERROR)],
        ),
    ],
    "restart": [
        ("running", [event("epoch_complete", "Epoch completed, at step 10", 20)]),
        ("error", [event("job_error", "Hardware failure", 25, level=Level.ERROR)]),
        ("error", [event("job_restarted", f"Restarted as {NEW_JOB}", 26)]),
        ("error", [event("refund", "Refund of $3.10 issued", 27)]),
    ],
}
PREFIX: list[Step] = [
    ("pending", [event("job_pending", "Fine tune request created", 0)]),
    ("queued", []),
    ("running", [event("job_start", "Job started", 5), event("training_start", "Training", 6)]),
]


@st.composite
def histories(draw: st.DrawFn) -> list[Step]:
    ending = draw(st.sampled_from(sorted(ENDINGS)))
    skip_queue = draw(st.booleans())
    prefix = PREFIX[:1] + PREFIX[2:] if skip_queue else PREFIX
    return [*prefix, *ENDINGS[ending]]


def snapshots(history: list[Step]) -> list[tuple[JobSnapshot, list[JobEvent]]]:
    """The snapshot and whole log (Together returns it whole) after each step."""
    out, log = [], []
    for raw, new in history:
        log = [*log, *new]
        out.append((together(raw), list(log)))
    return out


def poll(points: list[tuple[JobSnapshot, list[JobEvent]]]) -> tuple[JobState, list[Alert]]:
    state: JobState | None = None
    alerts: list[Alert] = []
    for minute, (snapshot, log) in enumerate(points):
        state, raised = diff(state, snapshot, log, at(50 + minute), TH)
        alerts += raised
    assert state is not None
    return state, alerts


def facts(alerts: list[Alert]) -> set[str]:
    return {a.dedup_key for a in alerts if not a.kind.is_condition}


@settings(max_examples=150, deadline=None)
@given(history=histories(), data=st.data())
def test_any_split_into_polls_yields_the_same_facts(
    history: list[Step], data: st.DataObject
) -> None:
    """Polling slower loses nothing and polling faster repeats nothing."""
    points = snapshots(history)
    chosen = data.draw(st.sets(st.integers(0, len(points) - 2)), label="intermediate polls")
    split = [points[i] for i in sorted(chosen)] + [points[-1]]
    _s, one_poll = poll([points[-1]])
    _s, many_polls = poll(split)
    assert facts(many_polls) == facts(one_poll)
    assert len(many_polls) == len({a.dedup_key for a in many_polls})


@settings(max_examples=80, deadline=None)
@given(history=histories(), data=st.data())
def test_replaying_a_poll_yields_nothing(history: list[Step], data: st.DataObject) -> None:
    """The same snapshot and log again, at any point of the history, raise nothing."""
    points = snapshots(history)
    upto = data.draw(st.integers(0, len(points) - 1), label="replayed poll")
    state, _ = poll(points[: upto + 1])
    snapshot, log = points[upto]
    _state, again = diff(state, snapshot, log, at(120), TH)
    assert again == []


@settings(max_examples=80, deadline=None)
@given(history=histories(), data=st.data())
def test_state_survives_the_store_round_trip(history: list[Step], data: st.DataObject) -> None:
    """A crash between polls (state reloaded from JSON) changes nothing that follows."""
    points = snapshots(history)
    cut = data.draw(st.integers(0, len(points) - 1), label="crash point")
    state, before = poll(points[: cut + 1])
    reloaded = JobState.from_json(state.to_json())
    rest: list[Alert] = []
    continued: JobState = reloaded
    for minute, (snapshot, log) in enumerate(points[cut + 1 :]):
        continued, raised = diff(continued, snapshot, log, at(90 + minute), TH)
        rest += raised
    _s, straight = poll(points)
    assert facts(before + rest) == facts(straight)
