"""The diff engine on the real APIs' semantics (provider-apis.md section 4), one rule a test."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from monitor.core.alerts import Cause, Kind, Severity
from monitor.core.diff import diff
from monitor.core.job_conditions import queue_alert_due
from monitor.core.memory import JobState
from monitor.core.model import JobError, Level
from monitor.core.outcomes import NO_RESTART_HINT
from monitor.core.provider_poll import PolledJob, diff_provider
from monitor.core.reads import (
    LOSS_BACKOFF_CAP,
    PROGRESS_READ_EVERY,
    RetrieveReason,
    loss_backoff,
    losses_due,
    retrieve_reason,
)
from monitor.core.settings import Thresholds
from tests.core.factories import at, event, openai, together

TH = replace(Thresholds(), progress_stall=timedelta(days=1), eta_grace=timedelta(minutes=20))
START = event("job_start", "Job started", 1)
TRAINING = event("training_start", "Training started", 2)
EPOCH_1 = event("epoch_complete", "Epoch completed, at step 100", 22)


def overruns(*polls: tuple[object, list[object], float]) -> list[str]:
    state: JobState | None = None
    found = []
    for snapshot, events, minute in polls:
        state, alerts = diff(state, snapshot, events, at(minute), TH)  # type: ignore[arg-type]
        found += [str(a.state) for a in alerts if a.kind is Kind.ETA_OVERRUN]
    return found


def test_an_anchored_estimate_that_stays_put_raises_its_overrun() -> None:
    """The provider's estimate does not slide with the polls: past it by eta_grace fires."""
    running = together("running", estimated_finish=at(60))
    polls = [(running, [START], m) for m in (5, 30, 70, 81, 90)]
    assert overruns(*polls) == ["firing"]


def test_a_queue_estimate_says_nothing_about_training() -> None:
    """An estimate given while queued is dropped when the stage changes: no overrun."""
    queued = together("queued", estimated_finish=at(10))
    running = together("running")
    assert overruns((queued, [], 5), (running, [START], 40), (running, [START], 120)) == []


def test_first_epoch_fallback_is_not_blocked_by_an_earlier_estimate() -> None:
    """Without the provider's estimate: first epoch (20 min) × 3 epochs from training start."""
    with_eta = together("running", estimated_finish=at(500), n_epochs=3)
    without = together("running", n_epochs=3)
    polls = [(with_eta, [START, TRAINING], 3), (without, [START, TRAINING, EPOCH_1], 23)]
    polls += [(without, [START, TRAINING, EPOCH_1], m) for m in (70, 81, 83)]
    assert overruns(*polls) == ["firing"]  # estimate at 62, fired at 82 = 62 + grace


def test_finishing_phase_is_not_measured_against_the_training_estimate() -> None:
    """Compressing/uploading: the training estimate no longer applies."""
    running = together("running", estimated_finish=at(30))
    assert overruns((running, [START], 5), (together("compressing"), [START], 90)) == []


def test_openai_never_restarts_a_job() -> None:
    """A failed OpenAI job and a new one with the same model and file: a person's resubmit."""
    error = JobError(code="server_error", message="The job failed due to an internal error")
    failed = openai("failed", job_id="ftjob-old", error=error, finished_at=at(30))
    again = openai("running", job_id="ftjob-new", created_at=at(45))
    states, first = diff_provider({}, [PolledJob(snapshot=failed)], at(31), TH)
    known = {s.job_id: s for s in states}
    _states, second = diff_provider(known, [PolledJob(snapshot=again)], at(46), TH)
    kinds = [a.kind for a in first + second]
    assert Kind.RESTARTED not in kinds
    failure = next(a for a in first if a.kind is Kind.FAILED)
    assert failure.cause is Cause.PROVIDER_ERROR and failure.hint == NO_RESTART_HINT
    assert all(a.original_job is None for a in second)


def test_together_likeness_still_links_a_restart() -> None:
    """Together restarts jobs: the same model, file and suffix right after an internal error."""
    failed = together("error", job_id="ft-old")
    new = together("queued", job_id="ft-new", created_at=at(40))
    events = [START, event("job_error", "Internal error on the node", 30, level=Level.ERROR)]
    states, _ = diff_provider({}, [PolledJob(snapshot=failed, events=events)], at(31), TH)
    known = {s.job_id: s for s in states}
    _states, alerts = diff_provider(known, [PolledJob(snapshot=new)], at(41), TH)
    assert [a.kind for a in alerts][:1] == [Kind.RESTARTED]


def test_started_comes_from_status_and_log_not_started_at() -> None:
    """Together's `started_at` is the current stage's start: a queued job has one."""
    queued = together("queued", started_at=at(1))
    cancelled = together("cancelled", started_at=at(9))
    lines = [event("cancel_requested", "Cancellation requested by user", 8)]
    state, first = diff(None, queued, [], at(2), TH)
    _state, second = diff(state, cancelled, lines, at(10), TH)
    assert [a.kind for a in first + second] == [Kind.CANCELLED]
    assert second[0].cause is Cause.USER_REQUESTED and second[0].severity is Severity.INFO


def test_an_unexplained_together_cancellation_is_unknown_with_the_providers_hint() -> None:
    """No cause in any line: unknown, a warning, with Together's own hint; never a person."""
    _state, alerts = diff(None, together("cancelled"), [START], at(40), TH)
    cancelled = next(a for a in alerts if a.kind is Kind.CANCELLED)
    assert cancelled.cause is Cause.UNKNOWN and cancelled.severity is Severity.WARNING
    assert cancelled.hint is not None and "balance" in cancelled.hint


def test_early_stopping_shows_in_the_success_message() -> None:
    """The success message says the job stopped early, at which step, with the best metric."""
    line = event(
        "early_stopped",
        "Early stopping",
        40,
        data={"best_step": 200, "best_metric": 0.412},  # as the provider normalizes them
    )
    done = together("completed", output_name="acme/model-early")
    _state, alerts = diff(None, done, [START, line], at(41), TH)
    success = next(a for a in alerts if a.kind is Kind.SUCCEEDED)
    assert "stopped early at step 200 (best metric 0.412)" in success.summary


def test_the_list_omitting_progress_fields_is_not_a_change() -> None:
    """A retrieve's steps and queue position survive the next list entry that lacks them."""
    retrieved = together("queued", queue_depth=4)
    state, _ = diff(None, retrieved, [], at(1), TH)
    state, _ = diff(state, together("queued"), [], at(2), TH)
    assert state.progress.queue_depth == 4


def test_the_queue_stall_alert_names_the_queue_position() -> None:
    """When the stall fires on a retrieved job, its alert carries the queue position."""
    th = replace(TH, queue_stall=timedelta(minutes=30))
    state, _ = diff(None, together("queued"), [], at(1), th)
    assert queue_alert_due(state, together("queued"), at(31), th)
    _state, alerts = diff(state, together("queued", queue_depth=7), [], at(31), th)
    stall = next(a for a in alerts if a.kind is Kind.QUEUE_STALLED)
    assert stall.facts["queue_depth"] == 7 and "queue position 7" in stall.summary
    assert not queue_alert_due(_state, together("queued"), at(40), th)  # fired already


def test_retrieve_reason_bounds_the_extra_requests() -> None:
    """A retrieve where the list lacks progress: on a stall alert, or per cadence."""
    running = together("running")
    state, _ = diff(None, running, [START], at(1), TH)
    read = replace(state, marks=replace(state.marks, progress_read_at=at(1)))
    due = retrieve_reason(running, read, at(1) + PROGRESS_READ_EVERY, stall_alert_due=False)
    assert due is RetrieveReason.PROGRESS
    assert retrieve_reason(running, read, at(2), stall_alert_due=False) is None
    queued = together("queued")
    assert (
        retrieve_reason(queued, None, at(2), stall_alert_due=True) is RetrieveReason.QUEUE_POSITION
    )
    assert retrieve_reason(queued, None, at(2), stall_alert_due=False) is None
    assert retrieve_reason(openai("running"), read, at(99), stall_alert_due=True) is None


def test_a_metrics_404_backs_off_per_job() -> None:
    """After a 404 the job's metrics are left alone until its retry time, doubling."""
    running = together("running")
    state, _ = diff(None, running, [START], at(1), TH)
    marks = replace(state.marks, losses_read_at=None, losses_missing=1, losses_retry_at=at(11))
    missing = replace(state, marks=marks)
    assert not losses_due(running, missing, at(5))
    assert losses_due(running, missing, at(12))
    assert loss_backoff(0) < loss_backoff(1) < loss_backoff(2)
    assert loss_backoff(40) == LOSS_BACKOFF_CAP
