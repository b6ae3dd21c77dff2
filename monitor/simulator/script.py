"""The scenario language: scripted timelines as plain records.

A `Scenario` names one or more jobs (`JobSpec`) and a list of `Step`s at offsets, in
seconds, from the scenario's start. A step may change the status, set job fields, append
an event, a checkpoint or a metrics row. Offsets are multiplied by the `time_scale` the
scenario is added with.

Strings in steps are templates (`str.format`) filled when the scenario is added:
`{id}` this job, `{job0}`/`{job1}` the scenario's jobs, `{model}`, `{base}` (Together's
internal model name), `{suffix}`, `{short}`, `{training_file}`, `{validation_file}`,
`{ft_model}` (the final model name), `{output_path}`, `{randN}` (a fresh N-char token),
and the step's own time as `{ctime}` (`Mon Mar  9 14:09:37 UTC 2026`) or `{iso}`
(`2026-03-09T14:09:56.101000`).

Two field values are special: `NOW` becomes the step's time in the provider's format, and
`eta_in: seconds` sets the estimate (Together `progress`, OpenAI `estimated_finish`) to
that many scaled seconds after the step (`None` clears it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

Provider = Literal["together", "openai"]


class _Now:
    """Sentinel: "this step's time" in the provider's own time format."""

    def __repr__(self) -> str:
        return "NOW"


NOW: Final = _Now()
EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return EMPTY  # shared: most steps have no data or fields


@dataclass(frozen=True, slots=True, kw_only=True)
class Ev:
    """One event line. `data`: Together's extra event fields, or OpenAI's metrics `data`."""

    type: str
    message: str
    level: str = "Info"
    data: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    at: float
    job: int = 0
    status: str | None = None
    fields: Mapping[str, Any] = field(default_factory=_empty)
    event: Ev | None = None
    checkpoint: Mapping[str, Any] | None = None
    metric: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """A job of a scenario: created at offset `created`, with `fields` over the defaults.

    `inherit` copies model, files and suffix from an earlier job of the same scenario
    (a Together restart resubmits the same work under a new id).
    """

    created: float = 0.0
    fields: Mapping[str, Any] = field(default_factory=_empty)
    inherit: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    provider: Provider
    description: str
    steps: tuple[Step, ...]
    jobs: tuple[JobSpec, ...] = (JobSpec(),)

    @property
    def duration(self) -> float:
        """Offset of the last scripted step (unscaled seconds)."""
        return max((s.at for s in self.steps), default=0.0)
