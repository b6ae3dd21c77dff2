"""Scenarios where a naive reading of the real APIs raises a false alert or misses one.

Each follows a fact of provider-apis.md section 4: stage-anchored Together estimates, an
estimate given only while queued, OpenAI's `estimated_finish: 0`, a person resubmitting a
failed OpenAI job (no restart), cancellation causes in empty-level lines, float metric
steps, a `/metrics` that answers 404, early stopping, and a queued job cancelled before
it ever ran (its stage `started_at` is no start).
"""

from __future__ import annotations

from .phases import TG_USER_CANCEL, nan_after
from .phases_openai import HYPER, oa_intake, oa_metrics, oa_run, say
from .phases_together import line, tg_intake, tg_start, tg_stop, tg_train, tg_wrap_up
from .scenarios_together import QUEUE, STARTS, TRAINS
from .script import NOW, Ev, JobSpec, Scenario, Step

TG_QUEUE_ESTIMATE = Scenario(
    name="together_queue_estimate",
    provider="together",
    description="an estimate (10 minutes) given while queued; in training estimate_available "
    "is false; two 25-minute epochs: no overrun (the first-epoch estimate holds)",
    jobs=(JobSpec(fields={"suffix": "queue-eta", "n_epochs": 2}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        Step(at=50, fields={"eta_in": 600}),  # queue stage estimate
        *tg_start(STARTS, validation=False),
        Step(at=STARTS + 1, fields={"eta_in": None}),  # training: no estimate
        *tg_train(TRAINS, epochs=2, epoch_seconds=1500, steps_per_epoch=100,
                  price_per_epoch=2.0, eta=False),
        *tg_wrap_up(TRAINS + 2 * 1500, total_steps=200, price_usd=4.0),
    ),
)  # fmt: skip

_QUIET_AT = TRAINS + 1500 + 300
TG_QUIET_BALANCE = Scenario(
    name="together_cancel_quiet_balance",
    provider="together",
    description="no BILLING_LIMIT line: an empty-level CANCEL_REQUESTED line saying the "
    "balance is insufficient, then JOB_STOPPED; cancelled",
    jobs=(JobSpec(fields={"suffix": "quiet-balance"}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        *tg_start(STARTS),
        *tg_train(TRAINS, epochs=3, epoch_seconds=1500, steps_per_epoch=100,
                  price_per_epoch=4.28, until_epoch=1),
        *tg_stop(_QUIET_AT, delay=30, cancel=Ev(
            type="CANCEL_REQUESTED", level="",
            message="Job cancelled: insufficient balance to continue training")),
    ),
)  # fmt: skip

TG_CANCEL_UNEXPLAINED = Scenario(
    name="together_cancel_unexplained",
    provider="together",
    description="running, then JOB_STOPPED with no cause in any line; cancelled",
    jobs=(JobSpec(fields={"suffix": "no-reason"}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        *tg_start(STARTS),
        *tg_train(TRAINS, epochs=3, epoch_seconds=1500, steps_per_epoch=100,
                  price_per_epoch=4.28, until_epoch=1),
        Step(at=_QUIET_AT, status="cancelled", fields={"eta_in": None},
             event=Ev(type="JOB_STOPPED", level="", message="Job stopped at {ctime}")),
    ),
)  # fmt: skip

TG_QUEUED_CANCEL = Scenario(
    name="together_queued_cancel",
    provider="together",
    description="queued (its stage has a started_at), then cancelled by a person before it "
    "ever ran: no job.started",
    jobs=(JobSpec(fields={"suffix": "never-ran"}),),
    steps=(*tg_intake(0, queue=((45, 6),)), *tg_stop(200, cancel=TG_USER_CANCEL, delay=20)),
)

TG_FLOAT_NAN = Scenario(
    name="together_float_steps_nan",
    provider="together",
    description="/metrics rows with float steps (`7.0`) whose train/loss is NaN from step "
    "60 on; the job still completes",
    jobs=(JobSpec(fields={"suffix": "float-steps"}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        *tg_start(STARTS),
        *tg_train(TRAINS, epochs=1, epoch_seconds=1500, steps_per_epoch=100,
                  price_per_epoch=4.28, metrics_every=5, loss=nan_after(60, 100),
                  float_steps=True),
        *tg_wrap_up(TRAINS + 1500, total_steps=100, price_usd=4.28),
    ),
)  # fmt: skip

TG_NO_METRICS = Scenario(
    name="together_no_metrics",
    provider="together",
    description="a job whose /metrics answers 404 (a job type without metrics); completes",
    jobs=(JobSpec(fields={"suffix": "no-metrics", "_no_metrics": True}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        *tg_start(STARTS),
        *tg_train(TRAINS, epochs=2, epoch_seconds=1500, steps_per_epoch=100,
                  price_per_epoch=4.28, metrics_every=10),
        *tg_wrap_up(TRAINS + 2 * 1500, total_steps=200, price_usd=8.56),
    ),
)  # fmt: skip

_STOPPED_AT = TRAINS + 2 * 1500 + 60
TG_EARLY_STOPPED = Scenario(
    name="together_early_stopped",
    provider="together",
    description="two of four epochs, then EARLY_STOPPED at step 200 (best eval loss 0.412) "
    "and the job completes with early_stopped fields",
    jobs=(JobSpec(fields={"suffix": "early-stop", "n_epochs": 4}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        *tg_start(STARTS),
        *tg_train(TRAINS, epochs=4, epoch_seconds=1500, steps_per_epoch=100,
                  price_per_epoch=2.0, until_epoch=2),
        line(_STOPPED_AT, 0, "EARLY_STOPPED", "Early stopping: no improvement in eval loss",
             data={"early_stopping_best_step": 200, "early_stopping_best_metric_value": 0.412},
             fields={"early_stopped": True, "early_stopping_best_step": 200,
                     "early_stopping_best_metric": 0.412}),
        *tg_wrap_up(_STOPPED_AT, total_steps=200, price_usd=4.0),
    ),
)  # fmt: skip

_OA_STARTS = 600.0
OA_ETA_ZERO = Scenario(
    name="openai_eta_zero",
    provider="openai",
    description="running with estimated_finish 0 (as in the API reference's examples) for "
    "30 minutes, then succeeded: no overrun",
    jobs=(JobSpec(fields={"user_provided_suffix": "eta-zero"}),),
    steps=(
        *oa_intake(0),
        *oa_run(_OA_STARTS, total=200, step_seconds=9, every=10),
        Step(at=_OA_STARTS + 0.5, fields={"estimated_finish": 0}),
    ),
)  # fmt: skip

_FAILED_AT = _OA_STARTS + 400
_RESUBMITTED = _FAILED_AT + 900
_SERVER_ERROR = "The job failed due to an internal server error. Please try again."
OA_RESUBMIT = Scenario(
    name="openai_resubmit",
    provider="openai",
    description="running, then failed with a server-side error; fifteen minutes later a "
    "person submits the same model and file again, which succeeds: no restart",
    jobs=(JobSpec(fields={"user_provided_suffix": "resubmit"}),
          JobSpec(created=_RESUBMITTED, inherit=0)),
    steps=(
        *oa_intake(0),
        say(_OA_STARTS, 0, "Fine-tuning job started", status="running",
            fields={"hyperparameters": HYPER, "eta_in": 1800}),
        *oa_metrics(_OA_STARTS, first=1, last=30, total=300, step_seconds=9,
                    loss=lambda n: 2.0 - n / 100, every=5),
        say(_FAILED_AT, 0, _SERVER_ERROR, level="error", status="failed", fields={
            "finished_at": NOW, "eta_in": None,
            "error": {"code": "server_error", "message": _SERVER_ERROR, "param": None}}),
        *oa_intake(_RESUBMITTED, job=1),
        *oa_run(_RESUBMITTED + 300, job=1, total=100, step_seconds=9, every=10),
    ),
)  # fmt: skip

SEMANTICS_SCENARIOS = (
    TG_QUEUE_ESTIMATE, TG_QUIET_BALANCE, TG_CANCEL_UNEXPLAINED, TG_QUEUED_CANCEL, TG_FLOAT_NAN,
    TG_NO_METRICS, TG_EARLY_STOPPED, OA_ETA_ZERO, OA_RESUBMIT,
)  # fmt: skip
