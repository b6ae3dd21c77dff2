"""All jobs of one simulator, and the list views both APIs serve.

Thread-safety: every method takes `lock`; callers that render several things from one
moment hold it themselves (it is re-entrant). A job exists only from its `created_t` on,
so a scenario added "in the future" or a restart's replacement job appears in the lists
exactly when its script says.

Scale: the lists are built from per-job cached JSON fragments (keyed by the job's revision,
the number of steps folded in and, for Together, the seconds-remaining figure), and the
whole Together list body is cached per (world version, now). Ten thousand mostly finished
jobs therefore cost one `join` per poll.
"""

from __future__ import annotations

import itertools
import json
import threading
from bisect import bisect_left
from typing import Any

from .script import Provider
from .timeline import Job
from .wire import openai_job, together_job


def dumps(obj: Any) -> bytes:
    """Compact JSON; NaN is written as `NaN`, as Python's json (and the wild) does."""
    return json.dumps(obj, separators=(",", ":")).encode()


class World:
    def __init__(
        self,
        *,
        lowercase_events: bool = False,
        error_placeholder: bool = False,
        log_moves_updated_at: bool = True,
    ) -> None:
        self.lock = threading.RLock()
        self.lowercase_events = lowercase_events
        # Whether Together's `updated_at` moves when only a log line is added is not
        # documented (provider-apis.md section 4, item 12): a switch, to test both.
        self.log_moves_updated_at = log_moves_updated_at
        self.error_placeholder = error_placeholder
        self.jobs: dict[str, Job] = {}
        self.hidden: set[str] = set()  # vanished jobs (see faults)
        self.version = 0
        self._by_provider: dict[Provider, list[Job]] = {"together": [], "openai": []}
        self._sorted: dict[Provider, bool] = {"together": True, "openai": True}
        # OpenAI order: newest first; keys negated so bisect works on an ascending list.
        self._openai_keys: list[tuple[int, str]] = []
        self._openai_pos: dict[str, int] = {}
        self._together_cache: tuple[tuple[int, float], bytes] | None = None

    # -- registry --------------------------------------------------------------------------

    def add(self, jobs: list[Job]) -> None:
        with self.lock:
            for job in jobs:
                if job.id in self.jobs:
                    raise ValueError(f"duplicate job id {job.id}")
                self.jobs[job.id] = job
                job.log_moves_updated_at = self.log_moves_updated_at
                self._by_provider[job.provider].append(job)
                self._sorted[job.provider] = False
            self.version += 1

    def hide(self, job_id: str, hidden: bool) -> None:
        """A vanished job answers 404 and leaves the lists (or comes back)."""
        with self.lock:
            if hidden:
                self.hidden.add(job_id)
            else:
                self.hidden.discard(job_id)
            self.version += 1

    def touch(self) -> None:
        """Note a mutation of some job's timeline (drops the list caches)."""
        with self.lock:
            self.version += 1

    def find(self, provider: Provider, job_id: str, now: float) -> Job | None:
        """The job, if it belongs to `provider` and exists at `now`."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.provider != provider or job.created_t > now:
                return None
            if job_id in self.hidden:
                return None
            return job

    def all(self, provider: Provider) -> list[Job]:
        with self.lock:
            return list(self._by_provider[provider])

    def _sort(self, provider: Provider) -> list[Job]:
        jobs = self._by_provider[provider]
        if not self._sorted[provider]:
            if provider == "together":
                jobs.sort(key=lambda j: j.order_key)
            else:
                # By the wire's created_at (whole seconds), ties by id, both descending.
                jobs.sort(key=lambda j: (-int(j.created_t), _neg(j.id)))
                self._openai_keys = [(-int(j.created_t), _neg(j.id)) for j in jobs]
                self._openai_pos = {j.id: i for i, j in enumerate(jobs)}
            self._sorted[provider] = True
        return jobs

    # -- Together ----------------------------------------------------------------------------

    def together_list_body(self, now: float) -> bytes:
        """`GET /fine-tunes`: every job that exists at `now`, truncated, unsorted."""
        with self.lock:
            key = (self.version, now)
            if self._together_cache is not None and self._together_cache[0] == key:
                return self._together_cache[1]
            parts = [
                self._together_item(job, now)
                for job in self._sort("together")
                if job.created_t <= now and job.id not in self.hidden
            ]
            body = b'{"data":[' + b",".join(parts) + b"]}"
            self._together_cache = (key, body)
            return body

    def _together_item(self, job: Job, now: float) -> bytes:
        st = job.state(now)
        key = (job.rev, st.k, None)
        if job.blob_key != key:
            job.blob = dumps(together_job(st.fields, now, events=None))
            job.blob_key = key
        return job.blob

    # -- OpenAI ------------------------------------------------------------------------------

    def openai_page(self, now: float, after: str | None, limit: int) -> bytes:
        """`GET /fine_tuning/jobs`: newest first, `after` a job id cursor."""
        with self.lock:
            jobs = self._sort("openai")
            # Jobs created after `now` do not exist yet: skip the head of the list.
            start = bisect_left(self._openai_keys, (-int(now), ""))
            if after is not None:
                pos = self._openai_pos.get(after)
                start = len(jobs) if pos is None else max(start, pos + 1)
            page: list[Job] = []
            has_more = False
            for job in itertools.islice(jobs, start, None):
                if job.id in self.hidden or job.created_t > now:
                    continue
                if len(page) == limit:
                    has_more = True
                    break
                page.append(job)
            parts = [self._openai_item(job, now) for job in page]
            return (
                b'{"object":"list","data":['
                + b",".join(parts)
                + b'],"has_more":'
                + (b"true" if has_more else b"false")
                + b"}"
            )

    def _openai_item(self, job: Job, now: float) -> bytes:
        st = job.state(now)
        key = (job.rev, st.k, None)
        if job.blob_key != key:
            job.blob = dumps(openai_job(st.fields, error_placeholder=self.error_placeholder))
            job.blob_key = key
        return job.blob


def _neg(text: str) -> str:
    """A string key that sorts in reverse order of `text` (ids are ASCII)."""
    return "".join(chr(0x10FFFF - ord(c)) for c in text)
