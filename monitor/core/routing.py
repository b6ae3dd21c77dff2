"""Which jobs a route or a provider's watch filter takes: matchers over job fields (pure).

A `JobMatch` holds shell globs (`*`, `?`, `[abc]`, case-sensitive) for the fields of a job
that people tell teams apart by, read from the providers' own payloads:

    model          the base model          Together `model`, OpenAI `model`
    suffix         the job's suffix        Together `suffix`; OpenAI the suffix named in
                                           `fine_tuned_model`, else `user_provided_suffix`
    output         the output model        Together `model_output_name`, OpenAI
                                           `fine_tuned_model`
    wandb_project  the W&B project         Together `wandb_project_name`, OpenAI's `wandb`
                                           integration
    metadata       key -> globs            OpenAI `metadata`
    job            job ids

Rules:
- Every matcher given must match (AND); the globs of one matcher are alternatives (OR).
- A field the job does not have matches no glob (a Together job has no metadata).
- A `JobMatch` without matchers takes everything, monitor alerts included; one with any
  matcher never takes an alert about no job (`monitor.*`).
- A restarted job's successor matches like its original: `job` matches either id, and the
  successor carries the original's fields where the provider shows none (see `inherit`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from monitor.core.alerts import Alert
from monitor.core.memory import JobState, ProviderHealth
from monitor.core.model import JobSnapshot

SCALAR_KEYS = ("model", "suffix", "output", "wandb_project", "job")
MATCHER_KEYS = (*SCALAR_KEYS[:4], "metadata", "job")

Globs = tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFields:
    """What matchers see of one job (from an alert, a snapshot or a stored state)."""

    job_id: str
    original_job: str | None = None
    model: str | None = None
    suffix: str | None = None
    output: str | None = None
    wandb_project: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def values(self, key: str) -> tuple[str, ...]:
        """The job's values for matcher `key`; empty when it has none."""
        if key == "job":
            return tuple(v for v in (self.job_id, self.original_job) if v)
        value = getattr(self, key)
        return (value,) if value else ()

    def as_record(self) -> dict[str, Any]:
        """These fields under the names alerts, snapshots and states give them (`_read`
        reads them back)."""
        return {
            "model": self.model,
            "suffix": self.suffix,
            "output_name": self.output,
            "wandb_project": self.wandb_project,
            "metadata": self.metadata,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class JobMatch:
    """Globs over job fields; no matcher at all takes everything."""

    model: Globs = ()
    suffix: Globs = ()
    output: Globs = ()
    wandb_project: Globs = ()
    job: Globs = ()
    metadata: tuple[tuple[str, Globs], ...] = ()

    @property
    def empty(self) -> bool:
        return not (any(getattr(self, k) for k in SCALAR_KEYS) or self.metadata)

    def given(self) -> list[tuple[str, Globs]]:
        """(matcher, globs) for every scalar matcher that is set, in `SCALAR_KEYS` order."""
        return [(k, getattr(self, k)) for k in SCALAR_KEYS if getattr(self, k)]


def mismatch(match: JobMatch, job: JobFields | None) -> str | None:
    """None when `match` takes the job; else why not, in words (for logs and test-notify)."""
    if match.empty:
        return None
    if job is None:
        return "the alert is about no job, and this matches on job fields"
    for key, globs in match.given():
        values = job.values(key)
        if not values:
            return f"the job has no {_NOUN[key]}"
        if not any(fnmatchcase(v, g) for v in values for g in globs):
            return f"{_NOUN[key]} {_quote(values[0])} is not {_alternatives(globs)}"
    for key, globs in match.metadata:
        value = job.metadata.get(key)
        if value is None:
            return f"the job has no metadata {key}"
        if not any(fnmatchcase(value, g) for g in globs):
            return f"metadata {key} {_quote(value)} is not {_alternatives(globs)}"
    return None


def matches(match: JobMatch, job: JobFields | None) -> bool:
    return mismatch(match, job) is None


def fields_of_alert(alert: Alert) -> JobFields | None:
    """The job an alert is about, as matchers see it; None for a monitor alert."""
    return None if alert.job_id is None else _read(alert.job_id, alert.original_job, alert)


def fields_of_snapshot(snapshot: JobSnapshot) -> JobFields:
    return _read(snapshot.id, None, snapshot)


def fields_of_state(state: JobState) -> JobFields:
    return _read(state.job_id, state.restart.of, state)


def _read(job_id: str, original_job: str | None, job: Alert | JobSnapshot | JobState) -> JobFields:
    """Alerts, snapshots and states name the matched fields alike; `JobFields.as_record`
    is the way back."""
    return JobFields(
        job_id=job_id,
        original_job=original_job,
        model=job.model,
        suffix=job.suffix,
        output=job.output_name,
        wandb_project=job.wandb_project,
        metadata=job.metadata,
    )


def watched(
    watch: JobMatch, snapshot: JobSnapshot, state: JobState | None, followed: frozenset[str]
) -> bool:
    """Whether a listed job is followed: the filter takes it (what ftmon already knows of
    it filling the gaps, so a successor matches like its original), or it is followed by
    name (`jobs`) or as a restart of a followed job."""
    if watch.empty or snapshot.id in followed:
        return True
    fields = fields_of_snapshot(snapshot)
    if state is not None:
        fields = inherit(fields, fields_of_state(state))
    return matches(watch, fields)


def watches_state(watch: JobMatch, named: Sequence[str], state: JobState) -> bool:
    """Whether a tracked job is still followed: the filter takes it, or `jobs` names it.
    One it no longer takes is left as it is: not read, not alerted, not in `status`."""
    return watch.empty or state.job_id in named or matches(watch, fields_of_state(state))


def watch_mark(watch: JobMatch) -> str | None:
    """What a provider's health remembers of its filter, to notice when it changes."""
    return None if watch.empty else repr(watch)


def quiet_before(watch: JobMatch, health: ProviderHealth) -> datetime | None:
    """When the watch filter changed since the provider's last poll: the jobs it now takes
    that were there before (created before that poll) are recorded silently, like on a
    baseline first poll, whatever `first_run` says. A new filter tells nothing about the
    past; only what follows."""
    changed = health.watch != watch_mark(watch)
    return health.last_success_at if health.polled_once and changed else None


def inherit(own: JobFields, original: JobFields) -> JobFields:
    """A successor's fields, the original's filling what the provider did not show."""
    return replace(
        own,
        original_job=own.original_job or original.original_job or _other(original, own),
        model=own.model or original.model,
        suffix=own.suffix or original.suffix,
        output=own.output or original.output,
        wandb_project=own.wandb_project or original.wandb_project,
        metadata={**original.metadata, **own.metadata},
    )


def _other(original: JobFields, own: JobFields) -> str | None:
    return original.job_id if original.job_id != own.job_id else None


# -- words --------------------------------------------------------------------------------

_NOUN = {
    "model": "model",
    "suffix": "suffix",
    "output": "output model",
    "wandb_project": "W&B project",
    "job": "job id",
}


def describe(match: JobMatch) -> str:
    """`match` in words: "every job", or "jobs whose suffix is "support-*" and …"."""
    if match.empty:
        return "every job"
    parts = [f"{_NOUN[k]} is {_alternatives(g)}" for k, g in match.given()]
    parts += [f"metadata {k} is {_alternatives(g)}" for k, g in match.metadata]
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"jobs whose {joined}"


def _alternatives(globs: Iterable[str]) -> str:
    quoted = [_quote(g) for g in globs]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# -- globs --------------------------------------------------------------------------------


def glob_problem(glob: str) -> str | None:
    """What is wrong with a glob written in the config, or None.

    fnmatch reads an unclosed `[` as a literal bracket, which is never what was meant;
    a literal bracket is written `[[]`.
    """
    if not glob.strip():
        return "an empty glob matches nothing"
    i = 0
    while i < len(glob):
        if glob[i] == "[":
            end = _bracket_end(glob, i)
            if end < 0:
                return "an unclosed [ (write [[] for a literal bracket)"
            i = end
        i += 1
    return None


def _bracket_end(glob: str, start: int) -> int:
    """Index of the `]` closing the set opened at `start`, or -1 (fnmatch's reading)."""
    j = start + 1
    if j < len(glob) and glob[j] == "!":
        j += 1
    if j < len(glob) and glob[j] == "]":
        j += 1
    return glob.find("]", j)
