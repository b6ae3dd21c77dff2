"""OpenAI scenarios, as data: phases at offsets (seconds) from the scenario's start."""

from __future__ import annotations

from .phases import OA_CANCELLED, OA_PAUSED, OA_RESUMED, LossFn, loss_curve, nan_after
from .phases_openai import (
    oa_checkpoint,
    oa_intake,
    oa_metrics,
    oa_run,
    oa_start,
    oa_succeed,
)
from .script import NOW, Ev, JobSpec, Scenario, Step

VALIDATION_FILE = "file-Va1idSim4hcWBbAwaxM0s"
WANDB = [
    {
        "type": "wandb",
        "wandb": {"project": "openai-ft", "name": None, "entity": "example-ml", "tags": []},
    }
]
STARTS = 600.0  # validation 44 s, then about nine minutes in the queue


def _spike_at(step: int, total: int) -> LossFn:
    """One step whose loss is about five times the average of the steps before it."""
    curve = loss_curve("spike", total)
    return lambda n: round(curve(n) * 5.5, 6) if n == step else curve(n)


SUCCESS = Scenario(
    name="openai_success",
    provider="openai",
    description="validating_files → queued → running (estimated_finish, a metrics event per "
    "step, a checkpoint per epoch) → succeeded with model, result file and tokens",
    jobs=(JobSpec(fields={"user_provided_suffix": "support-bot", "validation_file": VALIDATION_FILE,
                          "integrations": WANDB, "metadata": {"team": "support"}}),),
    steps=(
        *oa_intake(0),
        *oa_run(STARTS, total=300, step_seconds=9, valid_every=50, trained_tokens=412_830),
    ),
)  # fmt: skip

FAILURE = Scenario(
    name="openai_failure",
    provider="openai",
    description="validating_files → failed: error invalid_training_file (param training_file) "
    "and an error-level 'The job failed due to an invalid training file…' event",
    jobs=(JobSpec(fields={"user_provided_suffix": "contracts"}),),
    steps=(
        *oa_intake(0, validation=False, queued_after=None),
        Step(at=23, status="failed", fields={"error": {
            "code": "invalid_training_file", "param": "training_file",
            "message": "The job failed due to an invalid training file. Line 57: every "
                       "example needs at least one message with the role 'assistant'."}},
             event=Ev(type="message", level="error",
                      message="The job failed due to an invalid training file. Line 57: every "
                              "example needs at least one message with the role 'assistant'.")),
    ),
)  # fmt: skip

_CANCEL_LOSS = loss_curve("cancel", 200)
CANCEL = Scenario(
    name="openai_cancel",
    provider="openai",
    description="running, then cancelled by a person ('Fine-tuning job cancelled')",
    jobs=(JobSpec(fields={"user_provided_suffix": "ranker"}),),
    steps=(
        *oa_intake(0),
        *oa_start(300, eta_in=1840),
        *oa_metrics(300, first=1, last=40, total=200, step_seconds=9, loss=_CANCEL_LOSS),
        Step(at=670, status="cancelled", fields={"finished_at": NOW, "eta_in": None},
             event=OA_CANCELLED),
    ),
)  # fmt: skip

_PAUSE_LOSS = loss_curve("pause", 200)
_PAUSED, _RESUMED = 850.0, 2650.0
PAUSE_RESUME = Scenario(
    name="openai_pause_resume",
    provider="openai",
    description="running → paused for 30 minutes → resumed: queued → running → succeeded",
    jobs=(JobSpec(fields={"user_provided_suffix": "summarizer"}),),
    steps=(
        *oa_intake(0),
        *oa_start(300, eta_in=1840),
        *oa_metrics(300, first=1, last=60, total=200, step_seconds=9, loss=_PAUSE_LOSS),
        Step(at=_PAUSED, status="paused", fields={"eta_in": None}, event=OA_PAUSED),
        Step(at=_RESUMED, status="queued", event=OA_RESUMED),
        *oa_start(_RESUMED + 60, eta_in=1300),
        *oa_metrics(_RESUMED + 60, first=61, last=200, total=200, step_seconds=9,
                    loss=_PAUSE_LOSS),
        oa_checkpoint(_RESUMED + 60 + 40 * 9 + 2, step=100, loss=_PAUSE_LOSS),
        oa_checkpoint(_RESUMED + 60 + 140 * 9 + 20, step=200, loss=_PAUSE_LOSS, final=True),
        *oa_succeed(_RESUMED + 60 + 140 * 9 + 25, checkpoint_steps=(100,), trained_tokens=96_400),
    ),
)  # fmt: skip

ETA_OVERRUN = Scenario(
    name="openai_eta_overrun",
    provider="openai",
    description="running with estimated_finish 20 minutes out, training for 90 minutes, "
    "then succeeded",
    jobs=(JobSpec(fields={"user_provided_suffix": "long-context"}),),
    steps=(*oa_intake(0), *oa_run(STARTS, total=600, step_seconds=9, eta_in=1200)),
)

LOSS_NAN = Scenario(
    name="openai_loss_nan",
    provider="openai",
    description="metrics events whose train_loss becomes NaN from step 81 on (JSON NaN)",
    jobs=(JobSpec(fields={"user_provided_suffix": "nan-hunt"}),),
    steps=(*oa_intake(0), *oa_run(STARTS, total=200, step_seconds=9, loss=nan_after(80, 200))),
)

LOSS_SPIKE = Scenario(
    name="openai_loss_spike",
    provider="openai",
    description="at step 120 the training loss jumps to about 5x its recent average, then recovers",
    jobs=(JobSpec(fields={"user_provided_suffix": "spiky"}),),
    steps=(*oa_intake(0), *oa_run(STARTS, total=200, step_seconds=9, loss=_spike_at(120, 200))),
)

QUEUE_STUCK = Scenario(
    name="openai_queue_stuck",
    provider="openai",
    description="last event 'Files validated, moving job to queued state', queued for hours",
    jobs=(JobSpec(fields={"user_provided_suffix": "intent"}),),
    steps=(*oa_intake(0, validation=False, queued_after=57),),
)

OPENAI_SCENARIOS = (
    SUCCESS, FAILURE, CANCEL, PAUSE_RESUME, ETA_OVERRUN, LOSS_NAN, LOSS_SPIKE, QUEUE_STUCK,
)  # fmt: skip
