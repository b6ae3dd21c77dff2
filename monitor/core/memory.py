"""What ftmon remembers between polls: each job's state and each provider's health.

The diff engine's memory (`JobState`, grouped by who reads it) and the provider's poll
record (`ProviderHealth`). Both are stored as JSON by `codec`, driven by these types;
job states written before the nested layout are regrouped on reading (`state_layout`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from monitor.core import codec, state_layout
from monitor.core.model import Phase, Status

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def evolve(record: R, **changes: Any) -> R:
    """`dataclasses.replace`, but `record` itself when every change holds the value it
    already has (equal, of the same type). Most jobs of a poll do not change: building a
    whole new record for each, to find it equal, was much of a quiet poll's work; an
    unchanged result is also the same object (`is` tells it)."""
    for name, value in changes.items():
        old = getattr(record, name)
        if old is not value and (type(old) is not type(value) or old != value):
            return replace(record, **changes)
    return record


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """An open condition (stall, overrun, outage): when it began and when we last said so."""

    since: datetime
    notified_at: datetime
    reminders: int = 0
    detail: str = ""


class Fact(StrEnum):
    """A one-time fact about a job, raised at most once (`diff`). Pauses, resumes and
    loss spikes can happen more than once: they are counted and remembered elsewhere
    (`JobState.pauses`, `LossMemory.spiked_steps`)."""

    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RESTARTED = "restarted"
    REFUNDED = "refunded"
    LOSS_NAN = "loss_nan"
    VANISHED = "vanished"


class Signal(StrEnum):
    """What a log line told about a job's fate (`causes.event_signals`), remembered
    because the line that explains a cancellation often comes a poll before the status."""

    STARTED = "started"
    FINISHED = "finished"
    CANCEL = "cancel"
    RESTARTED = "restarted"
    REFUNDED = "refunded"
    EARLY_STOPPED = "early_stopped"
    INPUT_ERROR = "input_error"
    BILLING_LIMIT = "billing_limit"
    WANDB_AUTH = "wandb_auth"
    DATA_VALIDATION = "data_validation"
    INVALID_FILE = "invalid_file"
    PROVIDER_ERROR = "provider_error"
    USER_REQUESTED = "user_requested"


@dataclass(frozen=True, slots=True, kw_only=True)
class LogCursor:
    """How far the job's event log has been read.

    `seen_keys` are the event keys already read, capped; lines before `floor` count as
    seen once their key has been compacted away. `recent` keeps the last few lines for
    people (messages quote them)."""

    seen_keys: tuple[str, ...] = ()
    floor: datetime | None = None
    last_key: str | None = None
    recent: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LossMemory:
    """What the loss check remembers: the recent readings it averages, the last step it
    read, and the steps whose spike it already told."""

    recent: tuple[float, ...] = ()
    checked_step: int | None = None
    spiked_steps: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartLink:
    """A restart chain: the job this one continues, the job that replaced it, and since
    when a restart is expected but its new job is not yet known."""

    of: str | None = None
    successor: str | None = None
    awaiting_since: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """How far the job has come and when it is expected to end.

    `at` is the last sign of progress (a new line, step or epoch), which the progress
    stall is measured from. Counts keep their last known value when a list omits them.
    `eta` is the estimate in force (the provider's, else `epoch_eta`: first epoch ×
    epochs)."""

    at: datetime | None = None
    step: int | None = None
    total_steps: int | None = None
    epochs: int | None = None
    n_epochs: int | None = None
    queue_depth: int | None = None
    training_started_at: datetime | None = None
    eta: datetime | None = None
    epoch_eta: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PollMarks:
    """The poll's bookkeeping (`reads`): what the job looked like (`snapshot`), when it
    was last seen, when its log, metrics and progress were last read, and how many
    seconds apart its recent log lines came (`log_spacing`). `losses_missing` and
    `losses_retry_at` back a metrics endpoint that answers 404 off."""

    snapshot: str | None = None
    observed_at: datetime | None = None
    log_read_at: datetime | None = None
    log_spacing: float | None = None
    losses_read_at: datetime | None = None
    losses_missing: int = 0
    losses_retry_at: datetime | None = None
    progress_read_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Refund:
    """One refund line of a job's log: its key (so a replay never counts it twice), the
    amount when the line states one (None: "refunded" with no amount), and when."""

    key: str
    amount_usd: float | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class JobState:
    """What ftmon remembers of a job between polls: the diff engine's memory.

    The job as last seen (status, labels, outcome) sits at the top; the rest is grouped
    by who reads it: `facts` (one-time facts already raised, so no re-poll, replay or
    restart raises them twice) and `signals` (`diff`, `causes`), `log`, `loss`,
    `restart`, `progress`, `conditions` (open stalls and overruns) and `marks` (the
    poll's own bookkeeping). `early_stop` is the provider's early-stopping note for the
    success message.
    """

    provider: str
    job_id: str
    kind: str
    status: Status
    raw_status: str
    created_at: datetime
    phase: Phase = Phase.OTHER
    link: str | None = None
    model: str | None = None
    output_name: str | None = None
    training_file: str | None = None
    suffix: str | None = None
    wandb_project: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status_path: tuple[tuple[str, datetime], ...] = ()
    facts: frozenset[Fact] = frozenset()
    pauses: int = 0
    resumes: int = 0
    signals: frozenset[Signal] = frozenset()
    error_detail: str | None = None
    early_stop: str | None = None
    price_usd: float | None = None
    peak_price_usd: float | None = None  # the highest price stated (the ledger's charge)
    trained_tokens: int | None = None
    refunds: tuple[Refund, ...] = ()
    last_alert: str | None = None
    log: LogCursor = LogCursor()
    loss: LossMemory = LossMemory()
    restart: RestartLink = RestartLink()
    progress: Progress = Progress()
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    marks: PollMarks = PollMarks()

    def to_json(self) -> str:
        return codec.dumps(self)

    @classmethod
    def from_json(cls, text: str) -> JobState:
        raw = json.loads(text)
        if isinstance(raw, dict) and "seen_keys" in raw:
            raw = state_layout.nest_flat_state(raw)
        state: JobState = codec.decode(cls, raw)
        return state


@dataclass(frozen=True, slots=True, kw_only=True)
class Trouble:
    """One job's trouble on the provider's side, kept a while as evidence of an incident
    (`incidents`): `what` is its class (a failure, a queue stall, API errors)."""

    job_id: str
    at: datetime
    what: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderHealth:
    """A provider's poll record: first poll done, last success, open monitor conditions."""

    polled_once: bool = False
    last_success_at: datetime | None = None
    failing_since: datetime | None = None
    last_error: str | None = None
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    watch: str | None = None  # the watch filter of the last poll (`routing.watch_mark`)
    api_seen: frozenset[str] = frozenset()  # novelties already told (`api_changes`)
    troubles: tuple[Trouble, ...] = ()  # recent provider-side trouble (`incidents`)

    def to_json(self) -> str:
        return codec.dumps(self)

    @classmethod
    def from_json(cls, text: str) -> ProviderHealth:
        return codec.loads(cls, text)
