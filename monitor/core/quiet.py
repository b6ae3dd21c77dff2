"""Whether a poll must diff a job at all (pure).

On a busy account most open jobs are, on most polls, exactly as they were: the list shows
them unchanged, none of their reads is due, and none of their stalls, overruns or
reminders falls due yet. Their diffs came out as they went in and were most of a quiet
cycle's CPU. `diff_needed` says which jobs those are, exactly: a job it lets the poll
skip would have been diffed into the same state (the time it was observed aside) with no
alert. It asks the diff's own steps, so it cannot drift from them: the snapshot's fold
(`diff.absorb_snapshot`), the estimate (`estimates.eta_in_force`), the one-time facts of
the status (`outcomes.status_facts`) and the time-based conditions (`job_conditions.due`).
"""

from __future__ import annotations

from datetime import datetime

from monitor.core import diff, estimates, job_conditions, outcomes
from monitor.core.memory import JobState
from monitor.core.model import JobSnapshot
from monitor.core.reads import Reads
from monitor.core.settings import Thresholds


def diff_needed(
    snapshot: JobSnapshot,
    state: JobState | None,
    reads: Reads,
    now: datetime,
    thresholds: Thresholds,
) -> bool:
    """Whether this poll must diff the job: it is new, something of it is read, its
    snapshot carries log lines or something new about the API (told by a diff), its mark
    moved, or the diff would change it or raise an alert (`unchanged_by`)."""
    return (
        state is None
        or reads.any
        or bool(snapshot.events or snapshot.novelties)
        or state.marks.snapshot != snapshot.mark
        or not unchanged_by(state, snapshot, now, thresholds)
    )


def unchanged_by(
    state: JobState, snapshot: JobSnapshot, now: datetime, thresholds: Thresholds
) -> bool:
    """Whether `diff(state, snapshot, (), now, thresholds)` leaves the state as it is (the
    time it was observed aside) and raises nothing."""
    # Folded at the time it was last observed, an unchanged state comes back as it is:
    # `now` only stamps that time, and what changed (a status, a step) differs at any time.
    if diff.absorb_snapshot(state, snapshot, state.marks.observed_at or now) is not state:
        return False
    if estimates.eta_in_force(state, snapshot) != state.progress.eta:
        return False
    if outcomes.status_facts(state, snapshot, now)[0] is not state:
        return False
    return not job_conditions.due(state, now, thresholds)
