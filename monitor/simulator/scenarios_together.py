"""Together scenarios, as data: phases at offsets (seconds) from the scenario's start.

Durations are realistic (queues of minutes, epochs of tens of minutes); add a scenario with
a `time_scale` below 1 to play it faster.
"""

from __future__ import annotations

from .phases import NANO, TG_USER_CANCEL, nan_after
from .phases_together import tg_intake, tg_start, tg_stop, tg_train, tg_wrap_up
from .script import Ev, JobSpec, Scenario, Step

WANDB_PHRASE = "Unable to authenticate with Weights & Biases"
VALIDATION_FILE = "file-5b1e0c7a-2f0d-4c61-9a3e-7d2c8e41f9b0"

# Submitted, then twelve minutes in the queue with the depth counting down; starts at 720 s.
QUEUE = ((45, 6), (290, 4), (530, 2), (690, 1))
STARTS = 720.0
TRAINS = STARTS + 40

SUCCESS = Scenario(
    name="together_success",
    provider="together",
    description="pending → queued → running, 3 epochs with checkpoints → compressing → "
    "uploading → completed with an output model and a price",
    jobs=(JobSpec(fields={"suffix": "support-bot", "validation_file": VALIDATION_FILE,
                          "n_evals": 3, "n_checkpoints": 2, "eval_steps": 100}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        *tg_start(STARTS),
        *tg_train(TRAINS, epochs=3, epoch_seconds=1500, steps_per_epoch=100,
                  price_per_epoch=4.28, checkpoints=(1, 2), evaluate=True, metrics_every=5),
        *tg_wrap_up(TRAINS + 3 * 1500, total_steps=300, price_usd=12.84),
    ),
)  # fmt: skip

_BILLED_AT = TRAINS + 2400 + 1010
BILLING_LIMIT = Scenario(
    name="together_billing_limit",
    provider="together",
    description="training runs, then BILLING_LIMIT (Error) → CANCEL_REQUESTED → JOB_STOPPED; "
    "cancel_requested then cancelled",
    jobs=(JobSpec(fields={"suffix": "contracts-70b", "n_epochs": 4}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        *tg_start(STARTS, tokens=98_304_000, validation=False),
        *tg_train(TRAINS, epochs=4, epoch_seconds=2400, steps_per_epoch=750,
                  price_per_epoch=9.55, until_epoch=1),
        Step(at=_BILLED_AT, fields={"total_price": round(13.06 * NANO)}, event=Ev(
            type="BILLING_LIMIT", level="Error", data={"step": 1062, "total_steps": 3000},
            message="Job stopped at step 1062: the account balance is below the minimum needed "
                    "to keep training. Add credit or raise the spending limit, then resubmit.")),
        *tg_stop(_BILLED_AT + 1.2, cancel=Ev(
            type="CANCEL_REQUESTED", message="Cancellation requested: billing limit reached")),
    ),
)  # fmt: skip

# A short queue: these jobs fail right after their data is downloaded.
_SHORT_QUEUE = ((30, 2), (150, 1))

WANDB_USER_ERROR = Scenario(
    name="together_wandb_user_error",
    provider="together",
    description="after the data download, JOB_USER_ERROR 'Unable to authenticate with "
    "Weights & Biases…'; status user_error",
    jobs=(JobSpec(fields={"suffix": "triage-bot", "wandb_project_name": "triage"}),),
    steps=(
        *tg_intake(0, queue=_SHORT_QUEUE),
        *tg_start(200, tokens=281_600, validation=False, wandb=False),
        Step(at=229.5, status="user_error", fields={"eta_in": None}, event=Ev(
            type="JOB_USER_ERROR", level="Error",
            message=f"{WANDB_PHRASE}: the wandb_api_key sent with the job was rejected. "
                    "Create a new key and submit the job again.")),
    ),
)  # fmt: skip

WANDB_CANCELLED = Scenario(
    name="together_wandb_cancelled",
    provider="together",
    description="the older form of a bad W&B key: WARNING with the W&B phrase → "
    "CANCEL_REQUESTED → JOB_STOPPED; status cancelled",
    jobs=(JobSpec(fields={"suffix": "triage-bot", "wandb_project_name": "triage"}),),
    steps=(
        *tg_intake(0, queue=_SHORT_QUEUE),
        *tg_start(200, tokens=281_600, validation=False, wandb=False),
        Step(at=229.2, event=Ev(type="WARNING", level="Warning",
                                message=f"{WANDB_PHRASE}. Check the wandb_api_key you passed.")),
        *tg_stop(230.2, delay=20.5, cancel=Ev(
            type="CANCEL_REQUESTED",
            message="Cancellation requested: Weights & Biases authentication failed")),
    ),
)  # fmt: skip

DATA_VALIDATION = Scenario(
    name="together_data_validation",
    provider="together",
    description="downloads complete, then JOB_USER_ERROR 'Training data validation failed: "
    "…'; status user_error",
    jobs=(JobSpec(fields={"suffix": "faq-bot"}),),
    steps=(
        *tg_intake(0, queue=_SHORT_QUEUE),
        *tg_start(300, validation=False, wandb=False),
        Step(at=334.6, status="user_error", fields={"eta_in": None}, event=Ev(
            type="JOB_USER_ERROR", level="Error",
            message="Training data validation failed: line 873 of the training file is not "
                    "valid JSON (unexpected end of input). Fix the file and upload it again.")),
    ),
)  # fmt: skip


def _restart(name: str, *, names_new_id: bool) -> Scenario:
    """A hardware failure; the provider resubmits the job under a new id and refunds."""
    failed_at = TRAINS + 2 * 1300 + 500
    restarted_at = failed_at + 98.9
    new = "{job1}" if names_new_id else ""
    restarted = (
        f"Job restarted automatically as {new}"
        if names_new_id
        else ("Job restarted automatically after an internal error")
    )
    refund = (
        (
            f"Refunded $12.40 for {{id}} (internal error). The restarted job {new} is "
            "billed separately."
        )
        if names_new_id
        else "Refunded $12.40 (internal error)."
    )
    job1_trains = restarted_at + 175 + 40
    return Scenario(
        name=name,
        provider="together",
        description="JOB_ERROR (hardware) → JOB_RESTARTED "
        + ("naming the new ft- id" if names_new_id else "without an id")
        + " → REFUND $12.40; old job error, a new job (same model, file, suffix) completes",
        jobs=(JobSpec(fields={"suffix": "summarizer-v2"}),
              JobSpec(created=restarted_at, inherit=0)),
        steps=(
            *tg_intake(0, queue=QUEUE),
            *tg_start(STARTS, tokens=3_276_800, validation=False),
            *tg_train(TRAINS, epochs=3, epoch_seconds=1300, steps_per_epoch=400,
                      price_per_epoch=6.20, until_epoch=2),
            Step(at=failed_at, status="error", fields={"eta_in": None}, event=Ev(
                type="JOB_ERROR", level="Error", data={"step": 967, "total_steps": 1200},
                message="Internal error on the training node (GPU hardware failure) at step 967. "
                        "This was not caused by your inputs; the job will be restarted "
                        "automatically.")),
            Step(at=restarted_at, event=Ev(type="JOB_RESTARTED", message=restarted)),
            Step(at=restarted_at + 2.5, fields={"total_price": 0},
                 event=Ev(type="REFUND", message=refund)),
            *tg_intake(restarted_at, job=1, queue=((20, 1),)),
            *tg_start(restarted_at + 175, job=1, tokens=3_276_800, validation=False),
            *tg_train(job1_trains, job=1, epochs=3, epoch_seconds=1300, steps_per_epoch=400,
                      price_per_epoch=6.20, checkpoints=(2,)),
            *tg_wrap_up(job1_trains + 3 * 1300, job=1, total_steps=1200, price_usd=18.60),
        ),
    )  # fmt: skip


RESTART = _restart("together_restart", names_new_id=True)
RESTART_NO_ID = _restart("together_restart_no_id", names_new_id=False)

QUEUE_STUCK = Scenario(
    name="together_queue_stuck",
    provider="together",
    description="queued with queue_depth 14 and nothing but JOB_PENDING, for as long as you look",
    jobs=(JobSpec(fields={"suffix": "legal-qa-70b", "n_epochs": 2}),),
    steps=(*tg_intake(0, queue=((40, 14),)),),
)

USER_CANCEL = Scenario(
    name="together_user_cancel",
    provider="together",
    description="running, then a person cancels: CANCEL_REQUESTED → JOB_STOPPED, cancelled, "
    "no billing event",
    jobs=(JobSpec(fields={"suffix": "support-bot-v4"}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        *tg_start(STARTS),
        *tg_train(TRAINS, epochs=3, epoch_seconds=1500, steps_per_epoch=100,
                  price_per_epoch=4.28, until_epoch=1),
        *tg_stop(TRAINS + 1500 + 620, cancel=TG_USER_CANCEL, delay=38),
    ),
)  # fmt: skip

ETA_OVERRUN = Scenario(
    name="together_eta_overrun",
    provider="together",
    description="running with a 40-minute estimate that runs out while training goes on for "
    "three hours (an epoch every 30 minutes), then completes",
    jobs=(JobSpec(fields={"suffix": "long-context", "n_epochs": 6}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        *tg_start(STARTS),
        *tg_train(TRAINS, epochs=6, epoch_seconds=1800, steps_per_epoch=200,
                  price_per_epoch=3.10, evaluate=True, eta=2400),
        *tg_wrap_up(TRAINS + 6 * 1800, total_steps=1200, price_usd=18.60),
    ),
)  # fmt: skip

PROGRESS_STALL = Scenario(
    name="together_progress_stall",
    provider="together",
    description="running; after the first epoch no new event, step or checkpoint, for hours",
    jobs=(JobSpec(fields={"suffix": "support-bot-v5"}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        *tg_start(STARTS),
        *tg_train(TRAINS, epochs=3, epoch_seconds=1500, steps_per_epoch=100,
                  price_per_epoch=4.28, until_epoch=1, eta=False),
    ),
)  # fmt: skip

LOSS_NAN = Scenario(
    name="together_loss_nan",
    provider="together",
    description="two epochs whose train/loss in /metrics is NaN from step 130 on; the job "
    "still completes",
    jobs=(JobSpec(fields={"suffix": "nan-hunt"}),),
    steps=(
        *tg_intake(0, queue=QUEUE),
        *tg_start(STARTS),
        *tg_train(TRAINS, epochs=2, epoch_seconds=1500, steps_per_epoch=100,
                  price_per_epoch=4.28, metrics_every=5, loss=nan_after(130, 200)),
        *tg_wrap_up(TRAINS + 2 * 1500, total_steps=200, price_usd=8.56),
    ),
)  # fmt: skip

TOGETHER_SCENARIOS = (
    SUCCESS, BILLING_LIMIT, WANDB_USER_ERROR, WANDB_CANCELLED, DATA_VALIDATION, RESTART,
    RESTART_NO_ID, QUEUE_STUCK, USER_CANCEL, ETA_OVERRUN, PROGRESS_STALL, LOSS_NAN,
)  # fmt: skip
