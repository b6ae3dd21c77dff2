"""The diff engine, one table row per rule of DESIGN section 3."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest

from monitor.core.alerts import Alert, Cause, ConditionState, Kind, Severity
from monitor.core.diff import diff, vanished
from monitor.core.memory import JobState, ProviderHealth
from monitor.core.model import JobError, Level, LossPoint
from monitor.core.provider_poll import PolledJob, diff_provider, poll_failed, poll_succeeded
from monitor.core.settings import Thresholds
from tests.core.factories import JOB, NEW_JOB, at, event, openai, together

TH = Thresholds()


def kinds(alerts: list[Alert]) -> list[str]:
    return [str(a.kind) for a in alerts]


def run(*polls: tuple[object, list[object], float]) -> tuple[JobState, list[Alert]]:
    """Feed polls (snapshot, events, minute) through diff; return the last state and all alerts."""
    state: JobState | None = None
    alerts: list[Alert] = []
    for snapshot, events, minute in polls:
        state, raised = diff(state, snapshot, events, at(minute), TH)  # type: ignore[arg-type]
        alerts += raised
    assert state is not None
    return state, alerts


START = event("job_start", "Job started at 2026-11-01T12:01:00Z", 1)
BILLING = event("billing_limit", "Spending limit reached, stopping", 30, level=Level.ERROR)
CANCEL_REQ = event("cancel_requested", "Cancel requested", 31)
USER_CANCEL_REQ = event("cancel_requested", "Cancellation requested by user", 31)
# an empty-level (info) cancel line that names the cause in its words
BALANCE_CANCEL = event("cancel_requested", "Cancelled: insufficient balance to continue", 31)
STOPPED = event("job_stopped", "Job stopped", 32)
WANDB = event(
    "job_user_error", "Unable to authenticate with Weights & Biases: bad key", 5, level=Level.ERROR
)
WANDB_WARN = event(
    "warning", "wandb: unable to authenticate with weights and biases", 5, level=Level.WARNING
)
VALIDATION = event(
    "job_user_error", "Training data validation failed: line 4 is not JSON", 6, level=Level.ERROR
)
JOB_ERROR = event("job_error", "Hardware failure on node", 40, level=Level.ERROR)
RESTARTED = event("job_restarted", f"Job restarted as {NEW_JOB}", 41)
RESTARTED_NO_ID = event("job_restarted", "Job was restarted automatically", 41)
REFUND = event("refund", "Refunded $12.40 for the failed run", 42)


# (rule, polls, expected kinds, expected cause of the last alert)
CASES = [
    # job.started: status enters running
    (
        "started on running",
        [(together("queued"), [], 0), (together("running"), [START], 2)],
        ["job.started"],
        None,
    ),
    # skipped steps: queued -> completed between polls still yields started, from the log
    (
        "skipped steps yield started and succeeded",
        [
            (together("queued"), [], 0),
            (
                together("completed", output_name="user/m"),
                [START, event("job_complete", "Job finished", 60)],
                61,
            ),
        ],
        ["job.started", "job.succeeded"],
        None,
    ),
    # job.failed for data validation after download (Together user_error)
    (
        "data validation user_error",
        [(together("running"), [START], 2), (together("user_error"), [START, VALIDATION], 7)],
        ["job.started", "job.failed"],
        Cause.DATA_VALIDATION,
    ),
    # invalid W&B key whether ended as user_error ...
    (
        "wandb user_error",
        [(together("user_error"), [START, WANDB], 7)],
        ["job.started", "job.failed"],
        Cause.WANDB_AUTH,
    ),
    # ... or as a cancellation (older form)
    (
        "wandb cancelled",
        [(together("cancelled"), [START, WANDB_WARN, CANCEL_REQ, STOPPED], 33)],
        ["job.started", "job.cancelled"],
        Cause.WANDB_AUTH,
    ),
    # billing limit cancellation, cancel_requested seen first
    (
        "billing cancel_requested",
        [
            (together("running"), [START], 2),
            (together("cancel_requested"), [START, BILLING, CANCEL_REQ], 31),
            (together("cancelled"), [START, BILLING, CANCEL_REQ, STOPPED], 33),
        ],
        ["job.started", "job.cancelled"],
        Cause.BILLING_LIMIT,
    ),
    # a person cancelled: the cancellation line says so
    (
        "user cancel",
        [
            (together("running"), [START], 2),
            (together("cancelled"), [START, USER_CANCEL_REQ, STOPPED], 33),
        ],
        ["job.started", "job.cancelled"],
        Cause.USER_REQUESTED,
    ),
    # Together cancels on its own: a cancellation whose lines name no cause is unknown
    (
        "together cancel, no cause",
        [
            (together("running"), [START], 2),
            (together("cancelled"), [START, CANCEL_REQ, STOPPED], 33),
        ],
        ["job.started", "job.cancelled"],
        Cause.UNKNOWN,
    ),
    # the cause is read from the words of an info/empty-level line, whatever its level
    (
        "cancel cause from an empty-level line",
        [
            (together("running"), [START], 2),
            (together("cancelled"), [START, BALANCE_CANCEL, STOPPED], 33),
        ],
        ["job.started", "job.cancelled"],
        Cause.BILLING_LIMIT,
    ),
    # provider-side error
    (
        "provider error",
        [(together("running"), [START], 2), (together("error"), [START, JOB_ERROR], 41)],
        ["job.started", "job.failed"],
        Cause.PROVIDER_ERROR,
    ),
    # OpenAI failure: error.code / error.param third
    (
        "openai invalid file",
        [
            (
                openai(
                    "failed",
                    error=JobError(
                        code="invalid_training_file",
                        message="The file has 3 examples; 10 required.",
                        param="training_file",
                    ),
                ),
                [],
                5,
            )
        ],
        ["job.failed"],
        Cause.INVALID_FILE,
    ),
    # OpenAI: the all-null error placeholder is not a failure
    (
        "openai placeholder error",
        [(openai("running", error=JobError()), [], 5)],
        ["job.started"],
        None,
    ),
    # pause and resume
    (
        "pause resume",
        [
            (openai("running"), [], 1),
            (openai("paused"), [], 2),
            (openai("queued"), [], 3),
            (openai("running"), [], 4),
        ],
        ["job.started", "job.paused", "job.resumed"],
        None,
    ),
    # unknown status: not terminal, no alert
    ("unknown status", [(together("frobnicating"), [], 1)], [], None),
]


@pytest.mark.parametrize(("rule", "polls", "expected", "cause"), CASES, ids=[c[0] for c in CASES])
def test_rules(rule: str, polls: list, expected: list[str], cause: Cause | None) -> None:
    """Each rule of the DESIGN table raises exactly its alerts, with the right cause."""
    _state, alerts = run(*polls)
    assert kinds(alerts) == expected
    if cause is not None:
        assert alerts[-1].cause is cause
        assert alerts[-1].hint


def test_severities_of_cancellations() -> None:
    """Provider cancellations are failures, a person's is info, an unknown one a warning."""
    _s, billing = run((together("cancelled"), [BILLING, CANCEL_REQ], 33))
    _s, person = run((together("cancelled"), [USER_CANCEL_REQ], 33))
    _s, unknown = run((together("cancelled"), [], 33))
    assert [a.severity for a in billing] == [Severity.FAILURE]
    assert [a.severity for a in person] == [Severity.INFO]
    assert [a.severity for a in unknown] == [Severity.WARNING]


def test_same_snapshot_twice_raises_nothing() -> None:
    """Re-polls never repeat a fact."""
    snap, events = together("error"), [START, JOB_ERROR, RESTARTED, REFUND]
    state, first = diff(None, snap, events, at(50), TH)
    _state, second = diff(state, snap, events, at(51), TH)
    assert kinds(first) == ["job.started", "job.failed", "job.restarted", "job.refunded"]
    assert second == []


def test_restart_names_new_job_and_refund_amount() -> None:
    """A restart event names the new job; the refund carries its amount."""
    state, alerts = run((together("error"), [START, JOB_ERROR, RESTARTED, REFUND], 50))
    restarted = next(a for a in alerts if a.kind is Kind.RESTARTED)
    refunded = next(a for a in alerts if a.kind is Kind.REFUNDED)
    assert restarted.new_job == NEW_JOB and restarted.job_id == JOB
    assert f"new_job={NEW_JOB}" in restarted.label_line()
    assert refunded.facts["amount_usd"] == pytest.approx(12.40)
    assert state.restart.successor == NEW_JOB


def test_restart_chain_links_new_job() -> None:
    """The new job is tracked and its alerts name the original."""
    old = PolledJob(snapshot=together("error"), events=[START, JOB_ERROR, RESTARTED])
    new = PolledJob(
        snapshot=together("running", job_id=NEW_JOB, created_at=at(41)),
        events=[event("job_start", "Job started", 42, key="n1")],
    )
    states, alerts = diff_provider({}, [old, new], at(45), TH)
    started_new = next(a for a in alerts if a.job_id == NEW_JOB)
    assert started_new.original_job == JOB
    assert {s.job_id: s.restart.of for s in states}[NEW_JOB] == JOB


def test_a_successor_carries_its_originals_job_fields() -> None:
    """Where the provider shows no suffix or W&B project for the successor, the original's
    fill in, so routes and watch filters take both alike; its own fields win."""
    old = PolledJob(
        snapshot=together("error", wandb_project="search"), events=[START, JOB_ERROR, RESTARTED]
    )
    new = PolledJob(
        snapshot=together("running", job_id=NEW_JOB, created_at=at(41), suffix=None),
        events=[event("job_start", "Job started", 42, key="n1")],
    )
    states, alerts = diff_provider({}, [old, new], at(45), TH)
    started_new = next(a for a in alerts if a.job_id == NEW_JOB)
    assert (started_new.suffix, started_new.wandb_project) == ("demo", "search")
    assert {s.job_id: s.suffix for s in states}[NEW_JOB] == "demo"
    own = together("running", job_id=NEW_JOB, created_at=at(41), wandb_project="mine")
    _states, alerts = diff_provider({}, [old, PolledJob(snapshot=own)], at(45), TH)
    assert {a.wandb_project for a in alerts if a.job_id == NEW_JOB} == {"mine"}


def test_restart_without_id_is_correlated_by_model_file_suffix() -> None:
    """A restart line without an id: the new job with the same model, file and suffix is it."""
    old_state, _ = diff(None, together("error"), [START, JOB_ERROR, RESTARTED_NO_ID], at(42), TH)
    lookalike = together("queued", job_id=NEW_JOB, created_at=at(43))
    stranger = together(
        "queued",
        job_id="ft-00000000-0000-0000-0000-000000000000",
        created_at=at(43),
        suffix="other",
    )
    states, alerts = diff_provider(
        {JOB: old_state}, [PolledJob(snapshot=lookalike), PolledJob(snapshot=stranger)], at(44), TH
    )
    restarted = [a for a in alerts if a.kind is Kind.RESTARTED]
    assert [(a.job_id, a.new_job) for a in restarted] == [(JOB, NEW_JOB)]
    assert {s.job_id: s.restart.of for s in states}[NEW_JOB] == JOB


def test_succeeded_without_output_name_is_flagged() -> None:
    """A success that names no output model says so."""
    _s, alerts = run((openai("succeeded", output_name=None), [], 30))
    success = alerts[-1]
    assert success.kind is Kind.SUCCEEDED and "no output model" in success.summary
    assert "warning" in success.facts


def test_queue_stall_fires_reminds_and_resolves() -> None:
    """A condition fires once, reminds every `repeat`, resolves when it clears."""
    th = replace(TH, queue_stall=timedelta(hours=1), repeat=timedelta(hours=4))
    queued = together("queued", queue_depth=14)
    state, a1 = diff(None, queued, [], at(30), th)
    state, a2 = diff(state, queued, [], at(61), th)
    state, a3 = diff(state, queued, [], at(62), th)
    state, a4 = diff(state, queued, [], at(61 + 240), th)
    state, a5 = diff(state, together("running"), [START], at(61 + 241), th)
    assert a1 == [] and a3 == []
    assert [(a.kind, a.state) for a in a2] == [(Kind.QUEUE_STALLED, ConditionState.FIRING)]
    assert a2[0].facts["queue_depth"] == 14
    assert [(a.kind, a.state) for a in a4] == [(Kind.QUEUE_STALLED, ConditionState.REMINDER)]
    stall = [a for a in a5 if a.kind is Kind.QUEUE_STALLED]
    assert [a.state for a in stall] == [ConditionState.RESOLVED]
    assert len({a.dedup_key for a in (*a2, *a4, *stall)}) == 3


def test_progress_stall_and_resume() -> None:
    """Running with no new event or step for `progress_stall` is a stall; an event resolves it."""
    state, _ = diff(None, together("running"), [START], at(2), TH)
    state, stalled = diff(state, together("running"), [START], at(2 + 46), TH)
    later = event("epoch_complete", "Epoch completed, at step 10", 50)
    state, resumed = diff(state, together("running"), [START, later], at(51), TH)
    assert [(a.kind, a.state) for a in stalled] == [(Kind.PROGRESS_STALLED, ConditionState.FIRING)]
    assert [(a.kind, a.state) for a in resumed] == [
        (Kind.PROGRESS_STALLED, ConditionState.RESOLVED)
    ]


def test_eta_overrun_openai_estimated_finish() -> None:
    """OpenAI: running past estimated_finish by eta_grace."""
    th = replace(TH, progress_stall=timedelta(days=1))
    running = openai("running", estimated_finish=at(60))
    state, _ = diff(None, running, [], at(10), th)
    state, early = diff(state, running, [], at(75), th)
    state, late = diff(state, running, [], at(81), th)
    assert early == []
    assert [a.kind for a in late] == [Kind.ETA_OVERRUN]


def test_eta_from_first_epoch_times_epochs() -> None:
    """Together without an estimate: first-epoch duration × n_epochs."""
    th = replace(TH, progress_stall=timedelta(days=1))
    train = event("training_start", "Training started", 0)
    epoch1 = event("epoch_complete", "Epoch completed, at step 100", 10)
    state, _ = diff(None, together("running", n_epochs=3), [train, epoch1], at(11), th)
    assert state.progress.eta == at(30)
    _state, late = diff(state, together("running", n_epochs=3), [train, epoch1], at(51), th)
    assert [a.kind for a in late] == [Kind.ETA_OVERRUN]


def test_post_training_phase_is_not_an_overrun() -> None:
    """Compressing/uploading are watched for stalls, not against the training estimate."""
    th = replace(TH, progress_stall=timedelta(days=1))
    state, _ = diff(None, together("running", estimated_finish=at(3)), [START], at(2), th)
    _state, alerts = diff(state, together("compressing"), [START], at(90), th)
    assert alerts == []


def test_loss_nan_and_spike() -> None:
    """NaN loss is a failure once; a jump by loss_spike_factor over the recent average a warning."""
    steps = [
        event("metrics", f"Step {i}", i, key=f"m{i}", data={"step": i, "train_loss": v})
        for i, v in enumerate([1.0, 0.9, 0.8, 0.85, 4.0, math.nan, math.nan], start=1)
    ]
    _state, alerts = run((openai("running"), steps, 10))
    anomalies = [a for a in alerts if a.kind is Kind.LOSS_ANOMALY]
    assert [(a.cause, a.severity) for a in anomalies] == [
        (Cause.LOSS_SPIKE, Severity.WARNING),
        (Cause.LOSS_NAN, Severity.FAILURE),
    ]
    assert anomalies[0].facts["step"] == "5"


def test_metrics_losses_are_checked_once_per_step() -> None:
    """Together's /metrics readings: each step checked once, however often re-read, and
    the state remembers how far it has read (across a JSON round trip)."""
    first = [LossPoint(step=s, loss=v) for s, v in [(5, 1.0), (10, 0.9), (15, 0.8)]]
    state, alerts = diff(None, together("running"), [START], at(2), TH, losses=first)
    assert state.loss.checked_step == 15 and not [a for a in alerts if a.kind is Kind.LOSS_ANOMALY]
    state = JobState.from_json(state.to_json())
    again = [*first, LossPoint(step=20, loss=4.0), LossPoint(step=25, loss=math.inf)]
    state, alerts = diff(state, together("running"), [START], at(3), TH, losses=again)
    anomalies = [(a.cause, a.facts["step"]) for a in alerts if a.kind is Kind.LOSS_ANOMALY]
    assert anomalies == [(Cause.LOSS_SPIKE, "20"), (Cause.LOSS_NAN, "25")]
    state, alerts = diff(state, together("running"), [START], at(4), TH, losses=again)
    assert state.loss.checked_step == 25 and alerts == []


def test_baseline_records_history_silently() -> None:
    """first_run = baseline: a finished job seen on the first poll raises nothing."""
    polled = [PolledJob(snapshot=together("completed", output_name="m"), events=[START])]
    states, alerts = diff_provider({}, polled, at(90), TH, baseline=True)
    assert alerts == [] and "succeeded" in states[0].facts


def test_vanished_once() -> None:
    """A tracked unfinished job answering 404 is reported once."""
    state, _ = diff(None, together("running"), [START], at(2), TH)
    state, first = vanished(state, at(3), TH)
    _state, second = vanished(state, at(4), TH)
    assert [a.kind for a in first] == [Kind.VANISHED] and second == []


def test_provider_down_after_threshold_and_recovery() -> None:
    """monitor.provider_down fires after `provider_down` of failed polls and resolves."""
    health = ProviderHealth()
    health, a1 = poll_failed(health, "together-prod", at(0), TH, auth=False, message="503")
    health, a2 = poll_failed(health, "together-prod", at(11), TH, auth=False, message="503")
    health, a3 = poll_succeeded(health, "together-prod", at(12), TH)
    assert a1 == []
    assert [(a.kind, a.state) for a in a2] == [(Kind.PROVIDER_DOWN, ConditionState.FIRING)]
    assert [(a.kind, a.state) for a in a3] == [(Kind.PROVIDER_DOWN, ConditionState.RESOLVED)]
    assert a2[0].job_id is None and "job=" not in a2[0].label_line()


def test_auth_failed_at_once() -> None:
    """401/403 raise monitor.auth_failed on the first failed poll."""
    _health, alerts = poll_failed(ProviderHealth(), "p", at(0), TH, auth=True, message="401")
    assert [(a.kind, a.cause) for a in alerts] == [(Kind.AUTH_FAILED, Cause.AUTH)]


def test_label_line_contract() -> None:
    """The label line: kind, severity, cause, provider, job, in that order, then what
    routing matches on (model, suffix)."""
    _s, alerts = run((together("cancelled"), [BILLING, CANCEL_REQ], 33))
    assert alerts[-1].label_line() == (
        f"kind=job.cancelled severity=failure cause=billing_limit provider=together-prod job={JOB}"
        " model=meta-llama/Llama-3-8b suffix=demo"
    )


def test_label_line_carries_named_metadata_cleaned() -> None:
    """Metadata keys named in `label_metadata` follow, values cleaned like every label
    value; keys not named, and keys the job lacks, are left out."""
    snap = replace(openai("failed"), metadata={"team": "support ml", "cost_center": "42"})
    _s, alerts = run((snap, [], 5))
    line = alerts[-1].label_line(["team", "owner"])
    assert line.endswith(" team=support_ml")
    assert "cost_center" not in line and "owner=" not in line


def test_alert_json_round_trip_keeps_nan() -> None:
    """Alerts survive the outbox's JSON, NaN losses included."""
    steps = [event("metrics", "Step 1", 1, data={"step": 1, "train_loss": math.nan})]
    _s, alerts = run((openai("running"), steps, 2))
    alert = alerts[-1]
    back = Alert.from_json(alert.to_json())
    assert back.dedup_key == alert.dedup_key and math.isnan(back.facts["loss"])  # type: ignore[arg-type]
