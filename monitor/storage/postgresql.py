"""Durable state in PostgreSQL, shared by several `ftmon run` replicas (the `Store` of
`storage.base`; selected by `[monitor] state = "postgresql://…"`).

The rule of the SQLite store holds: one poll of a provider is committed in ONE transaction
(states, health, alerts), and the unique dedup key keeps a fact from being enqueued twice,
even by two overlapping leaders. What is new is the fence: a provider's commits are
accepted only from the replica holding its lease at the epoch it took (`pg_leases`), so a
paused or cut-off old leader cannot write after a new one took over.

Nothing is cached between polls: after a takeover the new leader reads what the old one
committed. Connections come from a small pool (psycopg_pool), checked before use so a
database restart costs one failed call, not a poisoned pool; every database failure is a
StoreError naming the database (never its password).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg_pool

from monitor.core.alerts import Alert
from monitor.core.budgets import Marked
from monitor.core.ledger import Entry
from monitor.core.memory import JobState, ProviderHealth
from monitor.storage import pg_leases, pg_ledger, pg_nudges, pg_retention
from monitor.storage.base import Lease, ProviderView, Pruned, Replica
from monitor.storage.pg_outbox import PgOutbox, insert_alerts
from monitor.storage.pg_schema import (
    Pool,
    check_readable,
    migrate,
    reading,
    transaction,
    where,
)
from monitor.storage.sqlite import CHECKED_CHANNELS

POOL_TIMEOUT = 3.0  # seconds a call waits for a connection before the database counts as lost
CONNECT_TIMEOUT = 2  # seconds to open one connection
REPLICA_FORGOTTEN = timedelta(minutes=10)  # a replica silent this long is no longer listed
_HOLDER = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def replica_name() -> str:
    """This process's name in leases: host, pid and a random part (pids repeat across
    containers and restarts; a reused name must never inherit a dead process's lease)."""
    return _HOLDER


def shown(url: str) -> str:
    """The URL as messages show it: no password, even if one slipped in."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":********@", 1)


class PgStore:
    """The `Store` in one PostgreSQL database; `outbox` shares its pool."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        holder: str | None = None,
        timeout: float = POOL_TIMEOUT,
        read_only: bool = False,
    ) -> None:
        """`read_only`: for commands that only read; the schema is checked, not migrated."""
        self.url = url
        self.holder = holder or replica_name()
        self._epochs: dict[str, int] = {}  # provider -> the epoch this replica leads at
        extra: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT}
        extra["options"] = "-c TimeZone=UTC"
        if password is not None:
            extra["password"] = password
        self.pool: Pool = psycopg_pool.ConnectionPool(
            url,
            kwargs=extra,
            min_size=1,
            max_size=4,
            open=False,
            name=shown(url),
            timeout=timeout,
            check=psycopg_pool.ConnectionPool.check_connection,
            reconnect_timeout=365 * 86400.0,  # never give up: the database may come back
        )
        self._connect = (url, dict(extra))  # the nudge listener's own connection
        self.pool.open(wait=False)
        try:
            check_readable(self.pool) if read_only else migrate(self.pool)
        except BaseException:
            self.pool.close()
            raise
        self.outbox = PgOutbox(self.pool)
        self.nudges = PgNudges(self.pool, *self._connect)

    @property
    def path(self) -> Path:
        return Path(shown(self.url))

    # -- reads -----------------------------------------------------------------------

    def load_provider(self, provider: str) -> ProviderView:
        with reading(self.pool) as conn:
            rows = conn.execute("SELECT state FROM jobs WHERE provider = %s", (provider,))
            states = {s.job_id: s for s in (JobState.from_json(r[0]) for r in rows)}
            row = conn.execute(
                "SELECT health FROM providers WHERE provider = %s", (provider,)
            ).fetchone()
            cutoff = pg_retention.pruned_before(conn, provider)
        health = ProviderHealth.from_json(row[0]) if row else ProviderHealth()
        return ProviderView(states=states, health=health, pruned_before=cutoff)

    def load_jobs(self, provider: str, job_ids: Iterable[str]) -> dict[str, JobState]:
        """The whole states of these jobs (this store keeps no settled index: its views
        hold every state, so a poll asks only when a watch filter wants them all)."""
        with reading(self.pool) as conn:
            rows = conn.execute(
                "SELECT state FROM jobs WHERE provider = %s AND job_id = ANY(%s)",
                (provider, list(job_ids)),
            ).fetchall()
        return {s.job_id: s for s in (JobState.from_json(r[0]) for r in rows)}

    def all_jobs(self) -> list[JobState]:
        with reading(self.pool) as conn:
            rows = conn.execute("SELECT state FROM jobs ORDER BY provider, job_id").fetchall()
        return [JobState.from_json(r[0]) for r in rows]

    def all_health(self) -> dict[str, ProviderHealth]:
        with reading(self.pool) as conn:
            rows = conn.execute("SELECT provider, health FROM providers").fetchall()
        return {r[0]: ProviderHealth.from_json(r[1]) for r in rows}

    def outbox_alerts(self) -> list[Alert]:
        with reading(self.pool) as conn:
            rows = conn.execute("SELECT payload FROM alerts ORDER BY id").fetchall()
        return [Alert.from_json(r[0]) for r in rows]

    # -- the one write of a poll, fenced ---------------------------------------------------

    def commit_poll(
        self,
        provider: str,
        states: Iterable[JobState],
        health: ProviderHealth,
        alerts: Sequence[Alert],
        now: datetime,
    ) -> list[Alert]:
        """Write states, health and alerts atomically, if this replica still leads the
        provider at its epoch (else FencedError, nothing written)."""
        states = list(states)
        rows = [
            (s.provider, s.job_id, str(s.status), s.status.terminal, now, s.to_json())
            for s in states
        ]
        with transaction(self.pool, "could not record the poll") as conn:
            pg_leases.check_fence(conn, provider, self.holder, self._epochs.get(provider))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO jobs (provider, job_id, status, terminal, changed_at, state) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (provider, job_id) DO UPDATE "
                    "SET status = excluded.status, terminal = excluded.terminal, "
                    "changed_at = excluded.changed_at, state = excluded.state",
                    rows,
                )
            pg_ledger.write(conn, states)
            conn.execute(
                "INSERT INTO providers (provider, health) VALUES (%s, %s) "
                "ON CONFLICT (provider) DO UPDATE SET health = excluded.health",
                (provider, health.to_json()),
            )
            return insert_alerts(conn, alerts, now)

    def enqueue(self, alerts: Sequence[Alert], now: datetime) -> list[Alert]:
        """Alerts of no poll (test-notify, monitor alerts): any replica may add them."""
        with transaction(self.pool, "could not enqueue alerts") as conn:
            return insert_alerts(conn, alerts, now)

    def enqueue_marked(self, items: Sequence[Marked], now: datetime) -> list[Alert]:
        """Alerts told once per mark: the replica whose mark took tells it (`pg_ledger`)."""
        with transaction(self.pool, "could not enqueue alerts") as conn:
            return pg_ledger.enqueue_marked(conn, items, now)

    def ledger(self, since: datetime | None = None) -> list[Entry]:
        with reading(self.pool) as conn:
            return pg_ledger.read(conn, since, where(self.pool))

    def checked_channels(self) -> str | None:
        with reading(self.pool) as conn:
            return pg_retention.read_meta(conn, CHECKED_CHANNELS)

    def remember_checked_channels(self, key: str) -> None:
        with transaction(self.pool, "could not record the checked channels") as conn:
            pg_retention.write_meta(conn, CHECKED_CHANNELS, key)

    def prune_if_due(self, now: datetime, lookbacks: Mapping[str, timedelta]) -> Pruned | None:
        return pg_retention.prune_if_due(self.pool, now, lookbacks)

    # -- leases ----------------------------------------------------------------------

    def lead(self, provider: str, lease: timedelta) -> Lease | None:
        with reading(self.pool, "could not renew the lease") as conn:
            got = pg_leases.lead(conn, provider, self.holder, lease, self._epochs.get(provider))
        if got is None:
            self._epochs.pop(provider, None)
        else:
            self._epochs[provider] = got.epoch
        return got

    def step_down(self, provider: str) -> None:
        """Give the lease up now (a clean stop); a lost database just forgets it."""
        epoch = self._epochs.pop(provider, None)
        if epoch is not None:
            with reading(self.pool, "could not release the lease") as conn:
                pg_leases.release(conn, provider, self.holder, epoch)

    def leases(self) -> list[Lease]:
        with reading(self.pool) as conn:
            return pg_leases.all_leases(conn)

    def replicas(self) -> list[Replica]:
        with reading(self.pool) as conn:
            return pg_leases.all_replicas(conn, REPLICA_FORGOTTEN)

    def announce(self, note: str) -> None:
        with reading(self.pool, "could not announce this replica") as conn:
            pg_leases.announce(conn, self.holder, note)

    def close(self) -> None:
        self.pool.close()


class PgNudges:
    """The `NudgeBoard` of this database (`pg_nudges`)."""

    def __init__(self, pool: Pool, url: str, kwargs: dict[str, Any]) -> None:
        self.pool, self._url, self._kwargs = pool, url, kwargs

    def record(self, nudges: Sequence[tuple[str, str]]) -> None:
        pg_nudges.record(self.pool, nudges)

    def take(self, provider: str) -> frozenset[str]:
        return pg_nudges.take(self.pool, provider)

    def listen(self) -> pg_nudges.NudgeListener:
        return pg_nudges.NudgeListener(self._url, self._kwargs, where(self.pool))


def database_clock(store: PgStore) -> datetime:
    """The database's now (leases are judged by it), for status and tests."""
    with reading(store.pool) as conn:
        row = conn.execute("SELECT now()").fetchone()
    return row[0] if row else datetime.now(UTC)
