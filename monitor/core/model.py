"""The normalized model every provider maps onto (DESIGN section 2).

Providers parse their own wire shapes into these records; everything downstream (diff,
store, render) sees only these. Raw values are kept beside the normalized ones so a
message can quote exactly what the provider said.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from monitor.core import codec


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


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEvent:
    """One line of a job's event log, normalized.

    `type` is lowercase (`job_start`, `billing_limit`, OpenAI `message`/`metrics`);
    `data` carries metrics (`step`, `train_loss`, …) when the provider sends them.
    """

    key: str
    created_at: datetime
    type: str
    level: Level
    message: str
    data: Mapping[str, float | int | str | None] = field(default_factory=dict)


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
class LossPoint:
    """One training-loss reading from a provider's metrics endpoint (Together's
    `/metrics` rows); OpenAI's readings arrive as `metrics` events instead."""

    step: int
    loss: float  # NaN and infinity kept: they are what the loss check looks for
    at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSnapshot:
    """What one poll saw of one job. Optional fields are None when the provider omits them."""

    provider: str
    kind: ProviderKind
    id: str
    status: Status
    raw_status: str
    created_at: datetime
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
    estimated_finish: datetime | None = None
    seconds_remaining: float | None = None
    price_usd: float | None = None
    trained_tokens: int | None = None
    error: JobError | None = None
    wandb_url: str | None = None
    events: tuple[JobEvent, ...] = ()
    # What teams tell jobs apart by (routes and watch filters match on them; `routing`):
    wandb_project: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> JobRef:
        return JobRef(provider=self.provider, job_id=self.id)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class JobRef:
    provider: str
    job_id: str


def dashboard_url(kind: ProviderKind, job_id: str) -> str:
    """The job's page in the provider's web console, for the message's link."""
    if kind is ProviderKind.OPENAI:
        return f"https://platform.openai.com/finetune/{job_id}"
    return f"https://api.together.ai/fine-tuning/{job_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """An open condition (stall, overrun, outage): when it began and when we last said so."""

    since: datetime
    notified_at: datetime
    reminders: int = 0
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobState:
    """What ftmon remembers of a job between polls: the diff engine's memory.

    `facts` holds the one-time facts already raised (started, failed, refunded, …) so no
    re-poll, replay or restart raises them twice. `seen_keys` are the event keys already
    read, capped; events before `seen_floor` count as seen once their key has been
    compacted away. `loss_step` is the last metrics step the loss check has read.
    `snapshot_mark`, `log_read_at`, `losses_read_at` and `event_spacing` are the poll's
    bookkeeping (see `plan`): what the job looked like, when its log and its metrics were
    last read, and how many seconds apart its recent log lines came.
    """

    provider: str
    job_id: str
    kind: ProviderKind
    status: Status
    raw_status: str
    created_at: datetime
    model: str | None = None
    output_name: str | None = None
    training_file: str | None = None
    suffix: str | None = None
    wandb_project: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status_path: tuple[tuple[str, datetime], ...] = ()
    facts: frozenset[str] = frozenset()
    signals: frozenset[str] = frozenset()
    error_detail: str | None = None
    seen_keys: tuple[str, ...] = ()
    seen_floor: datetime | None = None
    last_event_key: str | None = None
    recent_events: tuple[str, ...] = ()
    last_progress_at: datetime | None = None
    last_step: int | None = None
    total_steps: int | None = None
    epochs_completed: int | None = None
    n_epochs: int | None = None
    losses: tuple[float, ...] = ()
    loss_step: int | None = None
    eta: datetime | None = None
    training_started_at: datetime | None = None
    queue_depth: int | None = None
    price_usd: float | None = None
    restart_of: str | None = None
    restarted_as: str | None = None
    awaiting_restart_since: datetime | None = None
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    last_alert: str | None = None
    observed_at: datetime | None = None
    snapshot_mark: str | None = None
    log_read_at: datetime | None = None
    losses_read_at: datetime | None = None
    event_spacing: float | None = None

    def to_json(self) -> str:
        return codec.dumps(self)

    @classmethod
    def from_json(cls, text: str) -> JobState:
        return codec.loads(cls, text)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderHealth:
    """A provider's poll record: first poll done, last success, open monitor conditions."""

    polled_once: bool = False
    last_success_at: datetime | None = None
    failing_since: datetime | None = None
    last_error: str | None = None
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    watch: str | None = None  # the watch filter of the last poll (`routing.watch_mark`)

    def to_json(self) -> str:
        return codec.dumps(self)

    @classmethod
    def from_json(cls, text: str) -> ProviderHealth:
        return codec.loads(cls, text)
