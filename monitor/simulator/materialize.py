"""Turn a scenario script into jobs: initial fields, and script lines at absolute times."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from .defaults import INHERITED, Ids, job_fields, template_context
from .script import Provider, Scenario, Step
from .timeline import Job, MStep


class Materializer:
    """Shared id source and step sequence for one simulator."""

    def __init__(self, ids: Ids) -> None:
        self.ids = ids
        # Above any step's position in a synthetic job (see `job`).
        self._seq = itertools.count(1_000_000)

    def scenario(
        self,
        scenario: Scenario,
        *,
        start: float,
        scale: float,
        job_id: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> list[Job]:
        provider = scenario.provider
        job_ids = [self.ids.job_id(provider) for _ in scenario.jobs]
        if job_id is not None:
            job_ids[0] = job_id
        all_fields: list[dict[str, Any]] = []
        for index, spec in enumerate(scenario.jobs):
            overrides = {**spec.fields, **(fields or {})}
            if spec.inherit is not None:
                parent = all_fields[spec.inherit]
                for key in INHERITED[provider]:
                    overrides.setdefault(key, parent[key])
            created = start + spec.created * scale
            all_fields.append(job_fields(provider, self.ids, job_ids[index], created, overrides))
        named = {f"job{i}": jid for i, jid in enumerate(job_ids)}
        contexts = [template_context(provider, f) | named for f in all_fields]
        timelines: list[list[MStep]] = [[] for _ in job_ids]
        for step in scenario.steps:
            timelines[step.job].append(
                MStep(round(start + step.at * scale, 3), next(self._seq), step)
            )
        return [
            Job(
                provider,
                job_ids[i],
                start + spec.created * scale,
                all_fields[i],
                timelines[i],
                ctx=contexts[i],
                scale=scale,
                seed=self.ids.seed,
            )
            for i, spec in enumerate(scenario.jobs)
        ]

    def job(
        self,
        provider: Provider,
        *,
        created: float,
        fields: Mapping[str, Any],
        steps: Sequence[Step],
        scale: float = 1.0,
    ) -> Job:
        """One job whose step offsets (times `scale`) count from `created` (scale mode).

        Steps are numbered by position, so jobs can share their script lines cheaply."""
        job_id = self.ids.job_id(provider)
        base = job_fields(provider, self.ids, job_id, created, fields)
        ctx = template_context(provider, base) | {"job0": job_id}
        timeline = [MStep(round(created + s.at * scale, 3), i, s) for i, s in enumerate(steps)]
        return Job(provider, job_id, created, base, timeline, ctx=ctx, scale=scale,
                   seed=self.ids.seed)  # fmt: skip

    def at(self, job: Job, step: Step, t: float) -> MStep:
        """A step for `job` at absolute time `t` (API actions, injected payloads)."""
        return MStep(round(t, 3), next(self._seq), step)

    def retimed(self, steps: list[MStep], delta: float) -> list[MStep]:
        """`steps` moved by `delta` seconds (everything they render moves with them)."""
        return [MStep(round(s.t + delta, 3), next(self._seq), s.source) for s in steps]
