"""The store's one API, named by role: what the poll, the dispatcher and the commands use.

`Store` is job state, provider health and alerts, committed one poll at a time in one
transaction; its `outbox` is the delivery side (routing, due rows, claims, attempts,
channels). SQLite (`sqlite.SqliteStore`, one process) and PostgreSQL
(`postgresql.PgStore`, several replicas with a fenced leader per provider) implement them;
every other module sees only these Protocols and records (`open_store` picks the backend).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from monitor.core.alerts import Alert
from monitor.core.budgets import Marked
from monitor.core.deliveries import Decision, Delivery
from monitor.core.deliveries import DeliveryStatus as Status
from monitor.core.ledger import Entry
from monitor.core.memory import JobState, ProviderHealth
from monitor.core.plan import Settled
from monitor.core.policy import TokenBucket
from monitor.core.settings import RouteConfig


class Outcome(StrEnum):
    SENT, TRANSIENT, PERMANENT = "sent", "transient", "permanent"

    @property
    def row_status(self) -> str | None:
        """The delivery status an attempt with this outcome leaves its row in; None keeps
        the row's status (a transient failure: a held row stays part of its digest)."""
        return {"sent": "sent", "permanent": "failed"}.get(self.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Routed:
    alert_id: int
    alert: Alert
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DisabledChannel:
    channel: str
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxSummary:
    """What `ftmon status` shows of delivery."""

    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    unrouted: int = 0  # not yet looked at by a dispatcher
    unmatched: int = 0  # matched no route: kept, logged, never sent
    oldest_pending_at: datetime | None = None
    last_errors: dict[str, str] = field(default_factory=dict)
    disabled: list[DisabledChannel] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ProviderView:
    """What the store knows about one provider before a poll: the whole state of every job
    that can still change, and only an index entry for each settled one (`plan.settled`),
    whose whole state `Store.load_jobs` reads when the provider changes it again."""

    states: dict[str, JobState]
    health: ProviderHealth
    pruned_before: datetime | None = None  # finished jobs created before this are forgotten
    settled: Mapping[str, Settled] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pruned:
    """What one retention pass deleted."""

    alerts: int = 0
    deliveries: int = 0
    attempts: int = 0
    jobs: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """Who leads a provider's polling, until when, and the epoch that fences its writes:
    each takeover raises the epoch, and a commit carrying an older one is refused."""

    provider: str
    holder: str
    epoch: int
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Replica:
    """One replica sharing the state, as it last said (`ftmon status`)."""

    holder: str
    started_at: datetime
    seen_at: datetime
    note: str


class NudgeListener(Protocol):
    """A wait for nudges recorded by any replica (a connection of its own)."""

    def wait(self, timeout: float) -> frozenset[str]:
        """Block up to `timeout` seconds; the providers nudged meanwhile (maybe none)."""
        ...

    def close(self) -> None: ...


class NudgeBoard(Protocol):
    """Webhook nudges shared by replicas: any records, the provider's leader takes."""

    def record(self, nudges: Sequence[tuple[str, str]]) -> None:
        """Record (provider, job id) pairs and wake the leaders; duplicates collapse."""
        ...

    def take(self, provider: str) -> frozenset[str]: ...
    def listen(self) -> NudgeListener: ...


class Outbox(Protocol):
    """The delivery side of the store; its state diagram is in `storage.outbox`."""

    def route_new(
        self, routes: Sequence[RouteConfig], channels: Sequence[str], now: datetime
    ) -> list[Routed]: ...
    def route_to(self, alert_id: int, channels: Sequence[str], now: datetime) -> None: ...
    def due(self, now: datetime, only: frozenset[int] | None = None) -> list[Delivery]: ...
    def claim(self, rows: Sequence[Delivery], until: datetime) -> list[Delivery]: ...
    def hold(self, rows: Sequence[Delivery], until: datetime) -> None: ...
    def record_attempt(
        self,
        alert_ids: Sequence[int],
        channel: str,
        outcome: Outcome,
        error: str | None,
        next_attempt_at: datetime | None,
        now: datetime,
    ) -> None: ...
    def defer(self, rows: Sequence[Delivery], until: datetime, error: str | None) -> None: ...
    def replan(self, now: datetime, pending_after: datetime, held_after: datetime) -> int: ...
    def give_up(self, rows: Sequence[Delivery], reason: str) -> None: ...
    def inhibit(self, rows: Sequence[Delivery], note: str) -> None:
        """Close rows a provider incident covers (`inhibition`): never sent, kept."""
        ...

    def tokens(self, channel: str, fresh: TokenBucket, now: datetime) -> float | None:
        """A channel's rate-limit tokens at `now` where the store keeps them (several
        replicas share one bucket); None: the dispatcher keeps its own, in memory."""
        ...

    def take_token(self, channel: str, fresh: TokenBucket, now: datetime) -> Decision | None:
        """Spend one of the channel's shared tokens, atomically; None as for `tokens`."""
        ...

    def disable_channel(self, channel: str, reason: str, now: datetime) -> None: ...
    def disabled_channels(self) -> dict[str, DisabledChannel]: ...
    def sync_channels(self, fingerprints: Mapping[str, str]) -> list[str]: ...
    def alert_id(self, dedup_key: str) -> int | None: ...
    def delivery_states(self, alert: int) -> dict[str, tuple[Status, str | None]]: ...
    def pending_summary(self) -> OutboxSummary: ...
    def depth(self) -> int:
        """Deliveries still pending plus alerts not yet routed: the outbox's depth, by the
        indexes alone (read after every delivery pass; `pending_summary` scans it all)."""
        ...


class Store(Protocol):
    """Durable state: what a poll reads and commits, and the outbox behind it."""

    @property
    def path(self) -> Path: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def shared(self) -> bool:
        """True when several replicas may share this state (they then take leases)."""
        ...

    @property
    def nudges(self) -> NudgeBoard | None:
        """Where replicas share webhook nudges; None: one process, nudges stay in memory."""
        ...

    @property
    def holder(self) -> str:
        """This replica's name in leases: host, process and a random part."""
        ...

    def lead(self, provider: str, lease: timedelta) -> Lease | None:
        """Take or renew the provider's lease for this replica; None while another holds it.
        Commits of the provider's polls are then fenced by the epoch it returns."""
        ...

    def step_down(self, provider: str) -> None: ...
    def leases(self) -> list[Lease]: ...
    def replicas(self) -> list[Replica]: ...
    def announce(self, note: str) -> None:
        """Say this replica is alive (and how it is) for `ftmon status`."""
        ...

    def load_provider(self, provider: str) -> ProviderView: ...
    def load_jobs(self, provider: str, job_ids: Iterable[str]) -> dict[str, JobState]:
        """The whole stored states of these jobs, settled or not (not cached)."""
        ...

    def commit_poll(
        self,
        provider: str,
        states: Iterable[JobState],
        health: ProviderHealth,
        alerts: Sequence[Alert],
        now: datetime,
    ) -> list[Alert]: ...
    def enqueue(self, alerts: Sequence[Alert], now: datetime) -> list[Alert]: ...
    def enqueue_marked(self, items: Sequence[Marked], now: datetime) -> list[Alert]:
        """Enqueue each alert whose first mark is new, recording all its marks in the same
        transaction (told once per period, across restarts and replicas)."""
        ...

    def ledger(self, since: datetime | None = None) -> list[Entry]:
        """The cost ledger: one entry per job (written with each state in `commit_poll`,
        never pruned), of the jobs submitted since about `since` (None: all)."""
        ...

    def all_jobs(self) -> list[JobState]: ...
    def all_health(self) -> dict[str, ProviderHealth]: ...
    def outbox_alerts(self) -> list[Alert]: ...
    def prune_if_due(self, now: datetime, lookbacks: Mapping[str, timedelta]) -> Pruned | None: ...
    def checked_channels(self) -> str | None:
        """The digest of the channel set whose URLs were last validated (`delivery.lazy`)."""
        ...

    def remember_checked_channels(self, key: str) -> None: ...
    def close(self) -> None: ...
