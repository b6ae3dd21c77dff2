"""The normalized model every provider maps onto (DESIGN section 2).

Providers parse their own wire shapes into these records; everything downstream (diff,
store, render) sees only these. Raw values are kept beside the normalized ones so a
message can quote exactly what the provider said.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class ProviderKind(StrEnum):
    TOGETHER = "together"
    OPENAI = "openai"


class Status(StrEnum):
    """One lifecycle for both providers; `unknown` is never terminal."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def waiting(self) -> bool:
        """Submitted but not yet started: the queue-stall clock runs."""
        return self in (Status.PENDING, Status.QUEUED)


TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Phase(StrEnum):
    """Where a job is in its life, as far as the estimate and the stall checks care.

    Only `training` is measured against an estimate; `finishing` (packaging and storing
    the trained model) is watched by the progress-stall check alone.
    """

    WAITING = "waiting"
    TRAINING = "training"
    FINISHING = "finishing"
    ENDED = "ended"
    OTHER = "other"


class EventKind(StrEnum):
    """The closed set of things a log line can mean; each provider maps its own types here.

    The core reads only these. `message` is any line a provider does not classify; the
    raw type stays in `JobEvent.type` for people.
    """

    CREATED = "created"
    SETUP = "setup"  # downloads, file validation
    STARTED = "started"
    TRAINING = "training"  # the training loop itself began
    WANDB = "wandb"  # the W&B run was set up
    EPOCH = "epoch"
    EVAL = "eval"
    CHECKPOINT = "checkpoint"
    METRICS = "metrics"
    TRAINED = "trained"
    FINISHING = "finishing"  # packaging and storing the model, naming the output
    FINISHED = "finished"
    EARLY_STOPPED = "early_stopped"
    BILLING = "billing"
    DATA_ERROR = "data_error"
    ERROR = "error"
    STOPPED = "stopped"  # cancellation requested or the job stopped
    RESTARTED = "restarted"
    REFUNDED = "refunded"
    PAUSED = "paused"
    RESUMED = "resumed"
    WARNING = "warning"
    MESSAGE = "message"


# Lines that only report progress: their words never explain why a job ended.
ROUTINE_KINDS = frozenset(
    {
        EventKind.CREATED,
        EventKind.SETUP,
        EventKind.STARTED,
        EventKind.TRAINING,
        EventKind.WANDB,
        EventKind.EPOCH,
        EventKind.EVAL,
        EventKind.CHECKPOINT,
        EventKind.METRICS,
        EventKind.TRAINED,
        EventKind.FINISHING,
        EventKind.FINISHED,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderTraits:
    """What a provider is like, declared once in its own module (`TRAITS`).

    The core branches on these, never on a provider's name, event type or status word.
    """

    kind: str
    base_url: str  # the API's default base URL
    dashboard_url: str  # the job's page in the provider's console; `{job_id}` is filled
    events_cursor: bool  # the log is read incrementally after the last line seen
    list_pages: bool  # the job list pages (and so is read only as deep as needed)
    losses_need_request: bool  # loss readings come from a metrics endpoint, not the log
    restarts_jobs: bool  # the provider resubmits a failed job under a new id
    cancels_jobs: bool  # the provider cancels jobs on its own (billing checks, bad keys)
    list_lacks_progress: bool  # queue position and steps come only from a retrieve
    retrieve_has_log: bool  # a retrieved job carries its whole event log
    unexplained_cancel_hint: str = ""  # the next step when a cancellation names no cause
    status_page: str = ""  # the provider's public status page (`monitor.provider_incident`)

    def link(self, job_id: str) -> str:
        return self.dashboard_url.format(job_id=job_id)


# A provider about which nothing is known: no restarts, no own cancellations, no extras.
PLAIN_TRAITS = ProviderTraits(
    kind="",
    base_url="",
    dashboard_url="",
    events_cursor=False,
    list_pages=False,
    losses_need_request=False,
    restarts_jobs=False,
    cancels_jobs=False,
    list_lacks_progress=False,
    retrieve_has_log=False,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LossPoint:
    """One training-loss reading: from a metrics endpoint or from a metrics log line.

    Eval readings are another curve and never become loss points."""

    step: int
    loss: float  # NaN and infinity kept: they are what the loss check looks for
    at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Novelty:
    """Something a provider sent that its module does not know: a new status, event type
    or level, or a field that no longer parses as documented. The API may have changed,
    and ftmon may be missing facts (`monitor.api_changed`)."""

    what: str  # "status", "event type", "event level", "field total_price"
    value: str  # the provider's value (or, for a field, what it sent instead)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEvent:
    """One line of a job's event log, normalized.

    `kind` is what the line means (the provider's mapping); `type` the provider's own
    word, lowercased, kept for people. `data` carries the line's numbers and paths;
    `loss` a training-loss reading when the line is one; `names_job` the other job a
    restart line names.
    """

    key: str
    created_at: datetime
    type: str
    level: Level
    message: str
    kind: EventKind = EventKind.MESSAGE
    data: Mapping[str, float | int | str | None] = field(default_factory=dict)
    loss: LossPoint | None = None
    names_job: str | None = None
    novelties: tuple[Novelty, ...] = ()


def event_key(
    provider_id: str | None,
    digest_source: str | None,
    created_at: datetime,
    type_: str,
    message: str,
) -> str:
    """A stable key: the provider's id, else Together's `hash`, else a digest of the line."""
    if provider_id:
        return provider_id
    if digest_source:
        return f"hash:{digest_source}"
    text = f"{created_at.isoformat()}|{type_}|{message}".encode()
    return "sha:" + hashlib.sha256(text).hexdigest()[:24]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobError:
    """OpenAI's `error{code,message,param}`; also used for Together's last error line."""

    code: str | None = None
    message: str | None = None
    param: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    step: int | None
    created_at: datetime | None
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSnapshot:
    """What one poll saw of one job. Optional fields are None when the provider omits them.

    `traits` are the provider's (not stored); `phase` and `estimated_finish` are already
    normalized by the provider: the core never reads a raw status to decide anything.
    """

    provider: str
    kind: str
    id: str
    status: Status
    raw_status: str
    created_at: datetime
    phase: Phase = Phase.OTHER
    traits: ProviderTraits = PLAIN_TRAITS
    provider_fault: bool = False  # the status itself says the provider's side failed
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    model: str | None = None
    output_name: str | None = None
    training_file: str | None = None
    suffix: str | None = None
    n_epochs: int | None = None
    epochs_completed: int | None = None
    steps_completed: int | None = None
    total_steps: int | None = None
    queue_depth: int | None = None
    estimated_finish: datetime | None = None  # absolute, already anchored; None: no estimate
    early_stopped: bool = False
    early_stop_step: int | None = None
    early_stop_metric: float | None = None
    price_usd: float | None = None
    trained_tokens: int | None = None
    error: JobError | None = None
    wandb_url: str | None = None
    events: tuple[JobEvent, ...] = ()
    # What teams tell jobs apart by (routes and watch filters match on them; `routing`):
    wandb_project: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    novelties: tuple[Novelty, ...] = ()  # what of the job's payload was new (`Novelty`)
    _mark: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def ref(self) -> JobRef:
        return JobRef(provider=self.provider, job_id=self.id)

    @property
    def mark(self) -> str:
        """A short digest of the fields a job's change shows in, in the list and in a
        retrieve alike (so a retrieve that adds step counts does not read as a change next
        poll). Worked out once per snapshot, which never changes: a poll asks for it up to
        four times (the list's keep, the log plan, the quiet check, `settle`)."""
        mark = self._mark
        if mark is None:
            parts = (
                self.raw_status,
                self.updated_at,
                self.started_at,
                self.finished_at,
                self.output_name,
                self.trained_tokens,
                self.estimated_finish,
                self.price_usd,
                self.error,
            )
            mark = hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()
            object.__setattr__(self, "_mark", mark)
        return mark

    def filled_from(self, listed: JobSnapshot) -> JobSnapshot:
        """This retrieved job, with what only its list entry carries (Together's full job
        lacks `suffix`; a retrieve may lack `created_at`): the two shapes complete each other."""
        missing = {
            name: getattr(listed, name)
            for name, spec in self.__dataclass_fields__.items()
            if spec.init and getattr(self, name) is None and getattr(listed, name) is not None
        }
        return replace(self, created_at=listed.created_at, **missing)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class JobRef:
    provider: str
    job_id: str
