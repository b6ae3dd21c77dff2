"""Fault injection and request accounting (both thread-safe).

A fault rule matches requests by provider and a glob on the path (`*` crosses `/`), and
applies to the next `count` of them (`count=None`: until cleared). Rules are checked in
the order they were added: every matching `slow` rule adds its delay, then the first other
matching rule decides the answer:

| kind        | the answer                                                               |
|-------------|--------------------------------------------------------------------------|
| `fail`      | `status` (500, 503, 504, 524, 529, …) with the provider's error body       |
| `rate_limit`| 429 with `Retry-After` (seconds) and/or `retry-after-ms`                   |
| `quota`     | 429 `insufficient_quota` (OpenAI) / 402-style message (Together), no retry |
| `truncate`  | the real body cut in half, Content-Length matching the cut body           |
| `malformed` | the real body with its JSON broken, Content-Length correct               |
| `drop`      | headers promise the whole body, half is sent, the connection is closed    |

Separately: a job can vanish (404 from now on, gone from the lists), a provider key can be
revoked (401, or 403) and restored, and a fixed `latency` is added to every request.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

FaultKind = Literal["fail", "rate_limit", "quota", "slow", "truncate", "malformed", "drop"]
KINDS: frozenset[str] = frozenset(
    {"fail", "rate_limit", "quota", "slow", "truncate", "malformed", "drop"}
)
BODY_FAULTS = frozenset({"truncate", "malformed", "drop"})


@dataclass(slots=True, kw_only=True)
class Rule:
    kind: FaultKind
    remaining: int | None = 1
    path: str = "*"
    provider: str | None = None
    status: int = 503
    delay: float = 0.0
    retry_after: float | None = None
    retry_after_ms: int | None = None
    message: str | None = None

    def matches(self, provider: str | None, path: str) -> bool:
        if self.provider is not None and self.provider != provider:
            return False
        return fnmatchcase(path, self.path)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the faults decided for one request: extra delay, and the rule that answers."""

    delay: float = 0.0
    rule: Rule | None = None


class Faults:
    def __init__(
        self, latency: float = 0.0, on_vanish: Callable[[str, bool], None] | None = None
    ) -> None:
        self._on_vanish = on_vanish
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._vanished: set[str] = set()
        self._revoked: dict[str, int] = {}
        self._latency = latency

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        with self._lock:
            self._latency = max(0.0, float(seconds))

    # -- adding rules --------------------------------------------------------------------

    def add_rule(self, rule: Rule) -> None:
        if rule.kind not in KINDS:
            raise ValueError(f"unknown fault kind {rule.kind!r}")
        if rule.kind == "fail" and not 400 <= rule.status <= 599:
            raise ValueError("a failure status must be 4xx or 5xx")
        with self._lock:
            self._rules.append(rule)

    def fail(
        self,
        status: int = 503,
        *,
        count: int | None = 1,
        path: str = "*",
        provider: str | None = None,
        message: str | None = None,
    ) -> None:
        """The next `count` matching requests answer `status` with an error body."""
        self.add_rule(
            Rule(
                kind="fail",
                status=status,
                remaining=count,
                path=path,
                provider=provider,
                message=message,
            )
        )

    def rate_limit(
        self,
        *,
        count: int | None = 1,
        retry_after: float | None = 2.0,
        retry_after_ms: int | None = None,
        path: str = "*",
        provider: str | None = None,
    ) -> None:
        """429 rate limit with `Retry-After` (seconds) and/or `retry-after-ms`."""
        self.add_rule(
            Rule(
                kind="rate_limit",
                status=429,
                remaining=count,
                path=path,
                provider=provider,
                retry_after=retry_after,
                retry_after_ms=retry_after_ms,
            )
        )

    def insufficient_quota(
        self, *, count: int | None = 1, path: str = "*", provider: str | None = None
    ) -> None:
        """429 `insufficient_quota`: billing, not worth retrying."""
        self.add_rule(Rule(kind="quota", status=429, remaining=count, path=path, provider=provider))

    def slow(
        self, delay: float, *, count: int | None = 1, path: str = "*", provider: str | None = None
    ) -> None:
        """Answer the next `count` matching requests `delay` seconds late."""
        self.add_rule(Rule(kind="slow", delay=delay, remaining=count, path=path, provider=provider))

    def truncate(
        self, *, count: int | None = 1, path: str = "*", provider: str | None = None
    ) -> None:
        self.add_rule(Rule(kind="truncate", remaining=count, path=path, provider=provider))

    def malformed(
        self, *, count: int | None = 1, path: str = "*", provider: str | None = None
    ) -> None:
        self.add_rule(Rule(kind="malformed", remaining=count, path=path, provider=provider))

    def drop(self, *, count: int | None = 1, path: str = "*", provider: str | None = None) -> None:
        self.add_rule(Rule(kind="drop", remaining=count, path=path, provider=provider))

    def add(self, spec: Mapping[str, Any]) -> None:
        """Add a rule from its JSON form (`/_sim/fault`): `{"kind": …, "count": …, …}`."""
        known = {
            "kind",
            "count",
            "path",
            "provider",
            "status",
            "delay",
            "retry_after",
            "retry_after_ms",
            "message",
        }
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        self.add_rule(
            Rule(
                kind=spec["kind"],
                remaining=spec.get("count", 1),
                path=spec.get("path", "*"),
                provider=spec.get("provider"),
                status=int(spec.get("status", 503)),
                delay=float(spec.get("delay", 0.0)),
                retry_after=spec.get("retry_after"),
                retry_after_ms=spec.get("retry_after_ms"),
                message=spec.get("message"),
            )
        )

    # -- jobs and keys ---------------------------------------------------------------------

    def vanish(self, job_id: str) -> None:
        """The job answers 404 from now on and drops out of the lists."""
        with self._lock:
            self._vanished.add(job_id)
        if self._on_vanish is not None:
            self._on_vanish(job_id, True)

    def unvanish(self, job_id: str) -> None:
        with self._lock:
            self._vanished.discard(job_id)
        if self._on_vanish is not None:
            self._on_vanish(job_id, False)

    def vanished(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._vanished

    def revoke(self, provider: str, *, status: int = 401) -> None:
        """Every request with `provider`'s key answers `status` (401, or 403) until restored."""
        if status not in (401, 403):
            raise ValueError("a revoked key answers 401 or 403")
        with self._lock:
            self._revoked[provider] = status

    def restore(self, provider: str) -> None:
        with self._lock:
            self._revoked.pop(provider, None)

    def revoked(self, provider: str) -> int | None:
        with self._lock:
            return self._revoked.get(provider)

    def pending(self) -> int:
        """How many rules still wait for requests to match them (`count=None` ones too)."""
        with self._lock:
            return len(self._rules)

    def clear(self) -> None:
        """Drop every rule, vanished job and revoked key (latency stays)."""
        with self._lock:
            vanished = list(self._vanished)
            self._rules.clear()
            self._revoked.clear()
        for job_id in vanished:
            self.unvanish(job_id)

    # -- deciding ------------------------------------------------------------------------

    def plan(self, provider: str | None, path: str) -> Plan:
        """Consume the rules that match this request and say what to do."""
        delay, chosen = 0.0, None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(provider, path):
                    continue
                if rule.kind == "slow":
                    delay += rule.delay
                elif chosen is None:
                    chosen = rule
                else:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
            self._rules = [r for r in self._rules if r.remaining is None or r.remaining > 0]
        return Plan(delay=delay, rule=chosen)


class Stats:
    """Requests per (method, route template) and per job, statuses, and body bytes sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._by_job: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._bytes: Counter[str] = Counter()

    def record(self, route: str, status: int, sent: int, job: str | None = None) -> None:
        with self._lock:
            self._requests[route] += 1
            if job is not None:
                self._by_job[job] += 1
            self._statuses[status] += 1
            self._bytes[route] += sent

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "requests_by_job": dict(self._by_job),  # requests naming a job in the path
                "total_requests": sum(self._requests.values()),
                "statuses": {str(k): v for k, v in sorted(self._statuses.items())},
                "bytes_sent": sum(self._bytes.values()),
                "bytes_by_route": dict(self._bytes),
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._by_job.clear()
            self._statuses.clear()
            self._bytes.clear()
