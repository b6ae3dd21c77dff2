"""The endpoints of both APIs: each one's answer at a moment, as a `Reply`.

Handlers take the path parameters, the query and `now`, and run under the world lock
(`Api.serve` holds it). Together answers whole lists; OpenAI pages newest first with
`after` cursors.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import render
from .actions import Actions
from .script import Provider
from .timeline import Job, JobState
from .wire import error_body, openai_job, together_job
from .world import World, dumps

Query = Mapping[str, str]
RATE_LIMIT = 100_000  # requests per minute: far above what any test or benchmark sends


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class Endpoints:
    """Both providers' endpoint handlers, over one world."""

    def __init__(self, world: World, actions: Actions) -> None:
        self.world = world
        self.actions = actions
        self._request_ids = itertools.count(1)
        self._window, self._spent = -1, 0
        self.rate_limit = RATE_LIMIT  # requests per wall-clock minute, in the headers

    # -- shared answers ----------------------------------------------------------------------

    def reply(
        self,
        provider: Provider | None,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        data = body if isinstance(body, bytes) else dumps(body)
        number = next(self._request_ids)
        extra = (
            {"x-request-id": f"req_{number:032x}"}
            if provider == "openai"
            else {"cf-ray": f"{number:016x}-SIM"}
        )
        if 200 <= status < 300 and provider is not None:
            extra |= self._budget(provider)
        return Reply(status, data, {**extra, **(headers or {})})

    def _budget(self, provider: Provider) -> dict[str, str]:
        """Rate-limit headers on successful answers too, as both providers send them: a
        generous budget per wall-clock minute, counting down with each answer."""
        minute = int(time.monotonic() // 60)
        if minute != self._window:
            self._window, self._spent = minute, 0
        self._spent += 1
        left = str(max(0, self.rate_limit - self._spent))
        reset = 60 - int(time.monotonic() % 60)
        if provider == "openai":
            return {
                "x-ratelimit-limit-requests": str(self.rate_limit),
                "x-ratelimit-remaining-requests": left,
                "x-ratelimit-reset-requests": f"{reset}s",
            }
        return {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": left,
            "x-ratelimit-reset": str(reset),
        }

    def not_found(self, provider: Provider, job_id: str) -> Reply:
        if provider == "openai":
            body = error_body(
                f"Could not find fine tune: {job_id}",
                "invalid_request_error",
                param="fine_tune_id",
                code="fine_tune_not_found",
            )
        else:
            body = error_body(
                f"Fine-tune job {job_id} not found", "invalid_request_error", param="id"
            )
        return self.reply(provider, 404, body)

    def _job(self, provider: Provider, params: dict[str, str], now: float) -> Job | Reply:
        job = self.world.find(provider, params["id"], now)
        return job if job is not None else self.not_found(provider, params["id"])

    # -- Together --------------------------------------------------------------------------

    def tg_list(self, params: dict[str, str], query: Query, now: float) -> Reply:
        return self.reply("together", 200, self.world.together_list_body(now))

    def _tg_events(self, job: Job, now: float) -> list[dict[str, Any]]:
        lower = self.world.lowercase_events
        return [render.event(job, e, lowercase=lower) for e in job.state(now).events]

    def tg_retrieve(self, params: dict[str, str], query: Query, now: float) -> Reply:
        job = self._job("together", params, now)
        if isinstance(job, Reply):
            return job
        body = together_job(job.state(now).fields, now, events=self._tg_events(job, now))
        return self.reply("together", 200, body)

    def tg_events(self, params: dict[str, str], query: Query, now: float) -> Reply:
        job = self._job("together", params, now)
        if isinstance(job, Reply):
            return job
        return self.reply("together", 200, {"data": self._tg_events(job, now)})

    def tg_checkpoints(self, params: dict[str, str], query: Query, now: float) -> Reply:
        job = self._job("together", params, now)
        if isinstance(job, Reply):
            return job
        rows = [render.checkpoint(job, c) for c in job.state(now).checkpoints]
        return self.reply("together", 200, {"data": rows})

    def tg_metrics(self, params: dict[str, str], query: Query, now: float) -> Reply:
        job = self._job("together", params, now)
        if isinstance(job, Reply):
            return job
        if job.base.get("_no_metrics"):  # a job type without metrics, or an older API
            body = error_body(f"No metrics found for fine-tune job {job.id}", "not_found")
            return self.reply("together", 404, body)
        low = _int(query, "global_step_from", None)
        high = _int(query, "global_step_to", None)
        rows = [
            row
            for row in (render.metric(job, m) for m in job.state(now).metrics)
            if (low is None or row["train/global_step"] >= low)
            and (high is None or row["train/global_step"] <= high)
        ]
        return self.reply("together", 200, {"metrics": rows})

    def tg_cancel(self, params: dict[str, str], query: Query, now: float) -> Reply:
        job = self._job("together", params, now)
        if isinstance(job, Reply):
            return job
        refused = self.actions.together_cancel(job, now)
        if refused is not None:
            raise BadRequest(refused, "id")
        return self.reply("together", 200, together_job(job.state(now).fields, now, events=None))

    # -- OpenAI ----------------------------------------------------------------------------

    def oa_list(self, params: dict[str, str], query: Query, now: float) -> Reply:
        limit = min(_int(query, "limit", 20) or 20, 100)
        return self.reply("openai", 200, self.world.openai_page(now, query.get("after"), limit))

    def _oa_job_reply(self, job: Job, now: float) -> Reply:
        fields = job.state(now).fields
        return self.reply(
            "openai", 200, openai_job(fields, error_placeholder=self.world.error_placeholder)
        )

    def oa_retrieve(self, params: dict[str, str], query: Query, now: float) -> Reply:
        job = self._job("openai", params, now)
        return job if isinstance(job, Reply) else self._oa_job_reply(job, now)

    def oa_events(self, params: dict[str, str], query: Query, now: float) -> Reply:
        job = self._job("openai", params, now)
        if isinstance(job, Reply):
            return job
        st = job.state(now)
        limit = min(_int(query, "limit", 20) or 20, 100)
        start = _cursor(st, job, "event", query.get("after"))
        page = [render.event(job, e) for e in st.events[start - 1 :: -1][:limit]] if start else []
        return self.reply(
            "openai", 200, {"object": "list", "data": page, "has_more": start - len(page) > 0}
        )

    def oa_checkpoints(self, params: dict[str, str], query: Query, now: float) -> Reply:
        job = self._job("openai", params, now)
        if isinstance(job, Reply):
            return job
        st = job.state(now)
        limit = min(_int(query, "limit", 10) or 10, 100)
        start = _cursor(st, job, "checkpoint", query.get("after"))
        steps = st.checkpoints[start - 1 :: -1][:limit] if start else []
        page = [render.checkpoint(job, c) for c in steps]
        return self.reply(
            "openai",
            200,
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": start - len(page) > 0,
            },
        )

    def _oa_action(
        self, params: dict[str, str], now: float, action: Callable[[Job, float], str | None]
    ) -> Reply:
        job = self._job("openai", params, now)
        if isinstance(job, Reply):
            return job
        refused = action(job, now)
        if refused is not None:
            raise BadRequest(refused)
        return self._oa_job_reply(job, now)

    def oa_cancel(self, params: dict[str, str], query: Query, now: float) -> Reply:
        return self._oa_action(params, now, self.actions.openai_cancel)

    def oa_pause(self, params: dict[str, str], query: Query, now: float) -> Reply:
        return self._oa_action(params, now, self.actions.openai_pause)

    def oa_resume(self, params: dict[str, str], query: Query, now: float) -> Reply:
        return self._oa_action(params, now, self.actions.openai_resume)


def _cursor(st: JobState, job: Job, kind: str, after: str | None) -> int:
    """How many items (oldest first) lie before the cursor: all of them without one."""
    if after is None:
        return len(st.events if kind == "event" else st.checkpoints)
    pos = st.positions(job, kind).get(after)
    return 0 if pos is None else pos


def _int(query: Query, name: str, default: int | None) -> int | None:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid value for '{name}': expected an integer.", name) from None
    if value < 0 or (name == "limit" and value < 1):
        raise BadRequest(f"Invalid value for '{name}': {value}.", name)
    return value
