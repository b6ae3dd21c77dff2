"""One job's timeline, and its state at a moment as a fold over it.

A job is its fields at creation plus a sorted list of steps: script lines placed at
absolute times. Its state at `now` is the fold of the steps with `t <= now`. Steps are
rendered lazily (`render`): the fold merges status and fields and keeps references to the
event, checkpoint and metric lines, which are spelled out only when an endpoint asks. The
last fold is cached and extended as time moves on, so advancing the clock costs only the
new steps. Mutations (cancel, pause, resume, churn, injected payloads) edit the list and
drop the cache when they touch the folded part.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from . import render
from .script import Provider, Step
from .wire import OPENAI_TERMINAL, TOGETHER_TERMINAL, iso_ms


@dataclass(slots=True)
class MStep:
    """A script line placed at absolute time `t`; `seq` orders steps at the same time."""

    t: float
    seq: int
    source: Step


class JobState:
    """A job folded up to its first `k` steps. Read it, never change it."""

    __slots__ = ("_ids", "checkpoints", "events", "fields", "k", "metrics")

    def __init__(self, base: dict[str, Any]) -> None:
        self.k = 0
        self.fields: dict[str, Any] = dict(base)
        self.events: list[MStep] = []
        self.checkpoints: list[MStep] = []
        self.metrics: list[MStep] = []
        self._ids: dict[str, dict[str, int]] = {}

    @property
    def status(self) -> str:
        return str(self.fields["status"])

    def positions(self, job: Job, kind: str) -> dict[str, int]:
        """OpenAI cursor lookup: event (`kind="event"`) or checkpoint id → index."""
        items = self.events if kind == "event" else self.checkpoints
        known = self._ids.setdefault(kind, {})
        for index in range(len(known), len(items)):
            known[render.item_id(job, items[index], kind)] = index
        return known


class Job:
    """A job: creation time, initial fields, and its timeline."""

    def __init__(
        self,
        provider: Provider,
        job_id: str,
        created_t: float,
        base: dict[str, Any],
        steps: list[MStep],
        *,
        ctx: dict[str, str],
        scale: float = 1.0,
        seed: str = "0",
    ) -> None:
        self.provider: Provider = provider
        self.id = job_id
        self.created_t = created_t
        self.base = base
        self.ctx = ctx
        self.scale = scale
        self.salt = f"{seed}:{job_id}"
        self.steps = sorted(steps, key=lambda s: (s.t, s.seq))
        self.times = [s.t for s in self.steps]
        # Together's list is deliberately unsorted: a stable pseudo-random order.
        self.order_key = hashlib.blake2b(job_id.encode(), digest_size=8).digest()
        self.rev = 0
        self.suspended: list[MStep] = []
        self.paused_t: float | None = None
        self.blob_key: tuple[int, int, int | None] | None = None
        self.blob = b""
        self.meta: dict[str, Any] = {}
        self.log_moves_updated_at = True  # set by the world (see `World`)
        self._state: JobState | None = None

    def state(self, now: float) -> JobState:
        k = bisect_right(self.times, now)
        st = self._state
        if st is None or st.k > k:
            st = JobState(self.base)
        touched = None
        together = self.provider == "together"
        for step in self.steps[st.k : k]:
            line = step.source
            if line.status is not None and line.status != st.fields["status"] and together:
                # `started_at` is the start of the current stage (the spec's words)
                st.fields["started_at"] = iso_ms(step.t)
                st.fields["_stage_t"] = step.t
            if line.status is not None:
                st.fields["status"] = line.status
            if line.fields:
                st.fields.update(render.fields(self, step))
            if line.event is not None:
                st.events.append(step)
            if line.checkpoint is not None:
                st.checkpoints.append(step)
            if line.metric is not None:
                st.metrics.append(step)
            logged = line.event is not None or line.checkpoint is not None
            if line.status or line.fields or (logged and self.log_moves_updated_at):
                touched = step.t
        if touched is not None and together:
            st.fields["updated_at"] = iso_ms(touched)
        st.k = k
        self._state = st
        return st

    def terminal(self, now: float) -> bool:
        done = TOGETHER_TERMINAL if self.provider == "together" else OPENAI_TERMINAL
        return self.state(now).status in done

    def pending_steps(self, now: float) -> int:
        """How many scripted steps lie after `now`."""
        return len(self.times) - bisect_right(self.times, now)

    def insert(self, step: MStep) -> None:
        index = bisect_right(self.times, step.t)
        self.steps.insert(index, step)
        self.times.insert(index, step.t)
        self._touched(index)

    def drop_after(self, now: float) -> list[MStep]:
        """Remove and return every step after `now` (a cancel or pause ends the script)."""
        index = bisect_right(self.times, now)
        removed = self.steps[index:]
        del self.steps[index:]
        del self.times[index:]
        self._touched(index)
        return removed

    def _touched(self, index: int) -> None:
        self.rev += 1
        if self._state is not None and self._state.k > index:
            self._state = None
