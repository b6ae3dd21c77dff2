"""The alert vocabulary (DESIGN section 3): kinds, severities, causes, hints, the Alert record.

An Alert is one fact a person must know. Its `dedup_key` names that fact (provider, job,
kind and the fact itself: a target status, an event key, a condition episode), so no
re-poll, restart or replay can raise it twice. Alerts travel through the outbox as JSON
(`to_json` / `from_json`); the label line is the machine-readable contract of a message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from monitor.core.text import label_value


class Kind(StrEnum):
    STARTED = "job.started"
    SUCCEEDED = "job.succeeded"
    FAILED = "job.failed"
    CANCELLED = "job.cancelled"
    RESTARTED = "job.restarted"
    REFUNDED = "job.refunded"
    QUEUE_STALLED = "job.queue_stalled"
    PROGRESS_STALLED = "job.progress_stalled"
    ETA_OVERRUN = "job.eta_overrun"
    LOSS_ANOMALY = "job.loss_anomaly"
    PAUSED = "job.paused"
    RESUMED = "job.resumed"
    VANISHED = "job.vanished"
    AUTH_FAILED = "monitor.auth_failed"
    PROVIDER_DOWN = "monitor.provider_down"
    CHANNEL_FAILED = "monitor.channel_failed"
    API_CHANGED = "monitor.api_changed"
    BUDGET = "monitor.budget"
    COST_DIGEST = "monitor.cost_digest"
    PROVIDER_INCIDENT = "monitor.provider_incident"

    @property
    def is_condition(self) -> bool:
        """Conditions fire, remind every `repeat` and resolve; facts happen once."""
        return self in CONDITION_KINDS


CONDITION_KINDS = frozenset(
    {
        Kind.QUEUE_STALLED,
        Kind.PROGRESS_STALLED,
        Kind.ETA_OVERRUN,
        Kind.AUTH_FAILED,
        Kind.PROVIDER_DOWN,
        Kind.PROVIDER_INCIDENT,
    }
)


class Severity(StrEnum):
    """The same four words as apprise's notify types, in rising order."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = (Severity.INFO, Severity.SUCCESS, Severity.WARNING, Severity.FAILURE)


class Cause(StrEnum):
    BILLING_LIMIT = "billing_limit"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    WANDB_AUTH = "wandb_auth"
    DATA_VALIDATION = "data_validation"
    INVALID_FILE = "invalid_file"
    PROVIDER_ERROR = "provider_error"
    USER_REQUESTED = "user_requested"
    AUTH = "auth"
    QUOTA = "quota"
    LOSS_NAN = "loss_nan"
    LOSS_SPIKE = "loss_spike"
    UNKNOWN = "unknown"


class ConditionState(StrEnum):
    FIRING = "firing"
    REMINDER = "reminder"
    RESOLVED = "resolved"


HINTS: Mapping[Cause, str] = {
    Cause.BILLING_LIMIT: (
        "Add funds or raise the spending limit; a minimum balance of $5 is required. "
        "Then resubmit the job (the steps already run were billed)."
    ),
    Cause.INSUFFICIENT_BALANCE: (
        "Add funds or raise the spending limit; a minimum balance of $5 is required. "
        "Then resubmit the job."
    ),
    Cause.WANDB_AUTH: (
        "Re-issue the Weights & Biases API key, check the entity/project access, and pass "
        "the new key when you resubmit."
    ),
    Cause.DATA_VALIDATION: (
        "Validate the training file client-side (together files check FILE); if it "
        "passes, contact support with the job id."
    ),
    Cause.INVALID_FILE: (
        "Fix the file named above (format, example count, roles) and upload it again, "
        "then resubmit the job."
    ),
    Cause.PROVIDER_ERROR: (
        "Provider-side error, usually transient; the job may be restarted automatically. "
        "If no restart follows, resubmit, and contact support with the job id if it repeats."
    ),
    Cause.USER_REQUESTED: "Cancelled by a person; nothing to do unless that was a mistake.",
    Cause.AUTH: "API key missing or inactive: verify the key is set and active.",
    Cause.QUOTA: "The account is out of quota: check billing and usage limits.",
    Cause.LOSS_NAN: (
        "Loss is NaN/inf: the run is unlikely to recover. Consider cancelling it and "
        "lowering the learning rate or checking the data for broken examples."
    ),
    Cause.LOSS_SPIKE: (
        "Loss jumped well above its recent average: check the learning rate and the data "
        "around this step; cancel early if it does not come back down."
    ),
    Cause.UNKNOWN: "Open the job's event log for the reason; contact support with the job id.",
}

KIND_HINTS: Mapping[Kind, str] = {
    Kind.QUEUE_STALLED: (
        "There is no SLA on queue wait; most jobs start within an hour. Keep waiting, or "
        "cancel and resubmit at a quieter time."
    ),
    Kind.PROGRESS_STALLED: (
        "No new event, step or checkpoint for a long time: check the job's dashboard and "
        "contact support with the job id if it stays stuck."
    ),
    Kind.ETA_OVERRUN: (
        "The job is running past its estimate; nothing may be wrong, but check that steps "
        "are still advancing."
    ),
    Kind.PROVIDER_DOWN: (
        "503/504/524/529 are transient and retried; contact support if they persist."
    ),
    Kind.AUTH_FAILED: HINTS[Cause.AUTH],
    Kind.VANISHED: "The job now answers 404: it was deleted or the key lost access to it.",
    Kind.CHANNEL_FAILED: (
        "A notification channel failed permanently and was disabled: fix its URL or "
        "credentials in the config and reload ftmon."
    ),
    Kind.API_CHANGED: (
        "The provider's API sent something this ftmon does not know, so it may be missing "
        "facts about jobs: watch the named job in the provider's dashboard, check the "
        "provider's changelog, and upgrade ftmon (or report the value)."
    ),
    Kind.BUDGET: (
        "Spending reached a budget of the config: see what ran with `ftmon cost --by model`, "
        "cancel or hold jobs you can spare, or raise the budget in [[budgets]]."
    ),
    Kind.COST_DIGEST: "`ftmon cost --since 7d --by day` shows the days before.",
    Kind.PROVIDER_INCIDENT: (
        "Many jobs hit trouble on the provider's side at once: check the provider's status "
        "page, wait for it to recover (restarted jobs may continue on their own), then "
        "resubmit what failed; if it persists, contact support with the job ids above. "
        "The per-job messages of these jobs are held back; `ftmon explain JOB` shows each."
    ),
}

FactValue = str | int | float | None

# Every label the label line may carry besides metadata keys, in contract order.
BUILTIN_LABELS = (
    "kind", "severity", "cause", "provider", "job", "new_job", "original_job", "state",
    "model", "suffix",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One fact about a job (or about ftmon itself) that a person must know.

    `facts` holds what the message shows beside the summary (statuses, amounts, steps,
    losses), `status_path` the statuses the job went through with their times, and
    `recent_events` the last few provider log lines already formatted for people.
    """

    kind: Kind
    severity: Severity
    provider: str
    job_id: str | None
    at: datetime
    summary: str
    dedup_key: str
    provider_kind: str | None = None
    link: str | None = None  # the job's page in the provider's console
    cause: Cause | None = None
    hint: str | None = None
    state: ConditionState | None = None
    new_job: str | None = None
    original_job: str | None = None
    model: str | None = None
    output_name: str | None = None
    suffix: str | None = None
    wandb_project: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    detail: str | None = None
    facts: Mapping[str, FactValue] = field(default_factory=dict)
    status_path: tuple[tuple[str, datetime], ...] = ()
    recent_events: tuple[str, ...] = ()

    @property
    def group_cause(self) -> str:
        """Alerts with the same cause raised together become one message."""
        return f"{self.kind}:{self.cause or '-'}:{self.state or '-'}"

    def labels(self, metadata_keys: Sequence[str] = ()) -> dict[str, str]:
        """The label line's fields, in contract order; then what routing matched on, when
        the alert has it: `model`, `suffix` and the metadata keys named in `label_metadata`
        (config), so a receiver's own rules can match on them too."""
        out = {"kind": str(self.kind), "severity": str(self.severity)}
        if self.cause is not None:
            out["cause"] = str(self.cause)
        out["provider"] = self.provider
        if self.job_id is not None:
            out["job"] = self.job_id
        if self.new_job is not None:
            out["new_job"] = self.new_job
        if self.original_job is not None:
            out["original_job"] = self.original_job
        if self.state is not None:
            out["state"] = str(self.state)
        if self.model:
            out["model"] = self.model
        if self.suffix:
            out["suffix"] = self.suffix
        for key in metadata_keys:
            if self.metadata.get(key):
                out.setdefault(key, self.metadata[key])
        return out

    def label_line(self, metadata_keys: Sequence[str] = ()) -> str:
        labels = self.labels(metadata_keys)
        return " ".join(f"{k}={_label_value(v)}" for k, v in labels.items())

    def with_state(self, state: ConditionState, dedup_key: str, at: datetime) -> Alert:
        return replace(self, state=state, dedup_key=dedup_key, at=at)

    def to_json(self) -> str:
        return json.dumps(_to_plain(self), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Alert:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            kind=Kind(raw["kind"]),
            severity=Severity(raw["severity"]),
            provider=raw["provider"],
            job_id=raw.get("job_id"),
            at=datetime.fromisoformat(raw["at"]),
            summary=raw["summary"],
            dedup_key=raw["dedup_key"],
            provider_kind=raw.get("provider_kind"),
            link=raw.get("link"),
            cause=Cause(raw["cause"]) if raw.get("cause") else None,
            hint=raw.get("hint"),
            state=ConditionState(raw["state"]) if raw.get("state") else None,
            new_job=raw.get("new_job"),
            original_job=raw.get("original_job"),
            model=raw.get("model"),
            output_name=raw.get("output_name"),
            suffix=raw.get("suffix"),
            wandb_project=raw.get("wandb_project"),
            metadata={str(k): str(v) for k, v in (raw.get("metadata") or {}).items()},
            detail=raw.get("detail"),
            facts={k: _fact_from_plain(v) for k, v in raw.get("facts", {}).items()},
            status_path=tuple(
                (status, datetime.fromisoformat(at)) for status, at in raw.get("status_path", [])
            ),
            recent_events=tuple(raw.get("recent_events", [])),
        )


def _label_value(value: str) -> str:
    """Label values never contain whitespace, a line break or a control (see `text`), so a
    label line splits on spaces and stays one line whatever a provider names its jobs."""
    return label_value(value)


def _to_plain(alert: Alert) -> dict[str, Any]:
    return {
        "kind": str(alert.kind),
        "severity": str(alert.severity),
        "provider": alert.provider,
        "job_id": alert.job_id,
        "at": alert.at.isoformat(),
        "summary": alert.summary,
        "dedup_key": alert.dedup_key,
        "provider_kind": alert.provider_kind,
        "link": alert.link,
        "cause": str(alert.cause) if alert.cause else None,
        "hint": alert.hint,
        "state": str(alert.state) if alert.state else None,
        "new_job": alert.new_job,
        "original_job": alert.original_job,
        "model": alert.model,
        "output_name": alert.output_name,
        "suffix": alert.suffix,
        "wandb_project": alert.wandb_project,
        "metadata": dict(alert.metadata),
        "detail": alert.detail,
        "facts": {k: _fact_to_plain(v) for k, v in alert.facts.items()},
        "status_path": [[status, at.isoformat()] for status, at in alert.status_path],
        "recent_events": list(alert.recent_events),
    }


def _fact_to_plain(value: FactValue) -> FactValue:
    """JSON has no NaN or infinity; a NaN loss is exactly what a loss alert reports."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def _fact_from_plain(value: Any) -> FactValue:
    if value in ("nan", "inf", "-inf"):
        return float(value)
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


def severity_at_least(severity: Severity, minimum: Severity) -> bool:
    return severity.rank >= minimum.rank


# How each cause is said in a title and on the message's "Cause:" line (one table for both).
CAUSE_PHRASES = {
    Cause.BILLING_LIMIT: "billing limit reached",
    Cause.INSUFFICIENT_BALANCE: "insufficient balance or quota",
    Cause.WANDB_AUTH: "Weights & Biases key rejected",
    Cause.DATA_VALIDATION: "training data failed validation",
    Cause.INVALID_FILE: "invalid training file",
    Cause.PROVIDER_ERROR: "provider-side error",
    Cause.USER_REQUESTED: "requested by a person",
    Cause.AUTH: "API key missing or inactive",
    Cause.QUOTA: "out of quota",
    Cause.LOSS_NAN: "loss is NaN/inf",
    Cause.LOSS_SPIKE: "loss spiked",
    Cause.UNKNOWN: "reason not given by the provider",
}
