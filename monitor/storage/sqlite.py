"""Durable state: job states, provider health, the alert outbox and the cost ledger, in one
SQLite file.

The rule that matters: one poll of a provider is committed in ONE transaction — the new
job states (and their ledger rows, `ledger_rows`), the provider's health and every alert
they raised. A crash at any instant
leaves either the old state with none of the new alerts, or the new state with all of
them; the next poll then detects the same change again, and the outbox's unique dedup
key keeps any alert from being enqueued twice.

Opening the file (private, ours, intact, migrated) is `sqlite_file`; what the file
forgets, and when, is `retention`.

Reads are cached: a provider's open job states are decoded from the file once, on its
first `load_provider` (settled jobs only as index entries, `jobs.py`), and the cache then
follows every `commit_poll` after its COMMIT (a failed commit leaves it as the file is).
So a poll neither re-reads nor re-decodes the states it did not change, and only the rows
of states that changed are written. This process is the only writer of job states; other
processes (`ftmon status`) only read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.core import plan
from monitor.core.alerts import Alert
from monitor.core.budgets import Marked
from monitor.core.errors import StoreError
from monitor.core.explain import AlertRecord
from monitor.core.ledger import Entry
from monitor.core.memory import JobState, ProviderHealth
from monitor.core.plan import Settled
from monitor.storage import history, jobs, ledger_rows, retention
from monitor.storage.base import Lease, ProviderView, Pruned, Replica
from monitor.storage.outbox import SqliteOutbox
from monitor.storage.sql import transaction, ts
from monitor.storage.sqlite_file import Connect, open_file

CHECKED_CHANNELS = "channels_checked"  # the `meta` key of `checked_channels`


class SqliteStore:
    """The `Store` of `storage.base` in one SQLite file; `outbox` shares its connection."""

    def __init__(
        self,
        path: Path,
        *,
        timeout: float = 5.0,
        connect: Connect | None = None,
        read_only: bool = False,
    ) -> None:
        """Open (creating and migrating it if need be) the state file at `path`; with
        `read_only`, open an existing one as it is, or raise NotAStateFile."""
        self.path = path
        self._views: dict[str, ProviderView] = {}  # the decoded state, kept as committed
        self.connection = open_file(path, timeout=timeout, connect=connect, read_only=read_only)
        self.outbox = SqliteOutbox(self.connection)

    # -- reads ---------------------------------------------------------------------

    def load_provider(self, provider: str) -> ProviderView:
        """The provider's job states and health as committed (a copy of the open states the
        caller may keep; the settled index is the store's, to read only)."""
        view = self._views.get(provider)
        if view is None:
            with self._reading():
                view = self._views[provider] = self._read_provider(provider)
        return replace(view, states=dict(view.states))

    def load_jobs(self, provider: str, job_ids: Iterable[str]) -> dict[str, JobState]:
        """The whole states of these jobs, settled or not: for a settled job the provider
        changed again (not cached: its next commit puts it back where it belongs)."""
        with self._reading():
            return jobs.load(self.connection, provider, job_ids)

    def _read_provider(self, provider: str) -> ProviderView:
        states = jobs.read_open(self.connection, provider)
        settled = jobs.read_settled(self.connection, provider)
        row = self.connection.execute(
            "SELECT health FROM providers WHERE provider = ?", (provider,)
        ).fetchone()
        health = ProviderHealth.from_json(row[0]) if row else ProviderHealth()
        cutoff = retention.pruned_before(self.connection, provider)
        return ProviderView(states=states, health=health, pruned_before=cutoff, settled=settled)

    def all_jobs(self) -> list[JobState]:
        with self._reading():
            rows = self.connection.execute("SELECT state FROM jobs ORDER BY provider, job_id")
            return [JobState.from_json(r[0]) for r in rows]

    def all_health(self) -> dict[str, ProviderHealth]:
        with self._reading():
            rows = self.connection.execute("SELECT provider, health FROM providers")
            return {r[0]: ProviderHealth.from_json(r[1]) for r in rows}

    def alert_history(self, provider: str, job_ids: Sequence[str]) -> list[AlertRecord]:
        """The alerts about these jobs and where each went (`ftmon explain`)."""
        with self._reading():
            return history.alert_history(self.connection, provider, job_ids)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """A read that fails (a damaged page, an unreadable row) names the file."""
        try:
            yield
        except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{self.path}: cannot read the state database: {exc}") from exc

    # -- retention ---------------------------------------------------------------------

    def prune_if_due(self, now: datetime, lookbacks: Mapping[str, timedelta]) -> Pruned | None:
        """Forget old delivered alerts and finished jobs, at most once an hour (see
        `retention`); None when it is not yet time."""
        if not retention.due(self.connection, now):
            return None
        pruned, forgotten = retention.prune(self.connection, now, lookbacks)
        for provider, ids in forgotten.items():
            view = self._views.get(provider)
            if view is not None and ids:
                for job_id in ids:
                    view.states.pop(job_id, None)
                    _settled_index(view).pop(job_id, None)
                cutoff = retention.pruned_before(self.connection, provider)
                self._views[provider] = replace(view, pruned_before=cutoff)
        return pruned

    # -- the one write of a poll -----------------------------------------------------

    def commit_poll(
        self,
        provider: str,
        states: Iterable[JobState],
        health: ProviderHealth,
        alerts: Sequence[Alert],
        now: datetime,
    ) -> list[Alert]:
        """Write states, health and alerts atomically; return the alerts newly enqueued.

        `states` should hold only the states that changed: each one is a row rewritten.
        """
        conn = self.connection
        stamp = ts(now)
        states = list(states)
        with transaction(conn, "could not record the poll"):
            jobs.write(conn, states, stamp)
            ledger_rows.write(conn, states)
            conn.execute(
                "INSERT INTO providers (provider, health) VALUES (?, ?) "
                "ON CONFLICT (provider) DO UPDATE SET health = excluded.health",
                (provider, health.to_json()),
            )
            enqueued = _insert_alerts(conn, alerts, stamp)
        for state in states:
            cached = self._views.get(state.provider)
            if cached is not None:
                _cache(cached, state)
        view = self._views.get(provider)
        if view is not None:
            self._views[provider] = replace(view, health=health)
        return enqueued

    def enqueue(self, alerts: Sequence[Alert], now: datetime) -> list[Alert]:
        """Enqueue alerts that belong to no poll (test-notify, monitor alerts)."""
        with transaction(self.connection, "could not enqueue alerts"):
            return _insert_alerts(self.connection, alerts, ts(now))

    def enqueue_marked(self, items: Sequence[Marked], now: datetime) -> list[Alert]:
        """Alerts told once per mark (budgets, the digest): see `ledger_rows`."""
        with transaction(self.connection, "could not enqueue alerts"):
            return ledger_rows.enqueue_marked(self.connection, items, now, _insert_alerts)

    def ledger(self, since: datetime | None = None) -> list[Entry]:
        """The ledger rows of the jobs submitted since `since` (about; the core filters)."""
        with self._reading():
            return ledger_rows.read(self.connection, since)

    def outbox_alerts(self) -> list[Alert]:
        with self._reading():
            rows = self.connection.execute("SELECT payload FROM alerts ORDER BY id")
            return [Alert.from_json(r[0]) for r in rows]

    def checked_channels(self) -> str | None:
        with self._reading():
            return retention.read_meta(self.connection, CHECKED_CHANNELS)

    def remember_checked_channels(self, key: str) -> None:
        with transaction(self.connection, "could not record the checked channels"):
            retention.write_meta(self.connection, CHECKED_CHANNELS, key)

    def close(self) -> None:
        self.connection.close()

    # -- one process, so no leases: this process always leads ----------------------------

    shared = False
    nudges = None  # one process: the webhook receiver nudges the poller in memory
    holder = "local"

    def lead(self, provider: str, lease: timedelta) -> Lease | None:
        return Lease(
            provider=provider,
            holder=self.holder,
            epoch=0,
            expires_at=datetime.max.replace(tzinfo=UTC),
        )

    def step_down(self, provider: str) -> None:
        return None

    def leases(self) -> list[Lease]:
        return []

    def replicas(self) -> list[Replica]:
        return []

    def announce(self, note: str) -> None:
        return None


def _settled_index(view: ProviderView) -> dict[str, Settled]:
    """The cache's own settled index (a dict, whatever the view's type says)."""
    index = view.settled
    assert isinstance(index, dict)
    return index


def _cache(view: ProviderView, state: JobState) -> None:
    """A committed state into the cache: whole while it can change, else its index entry."""
    entry = plan.settled(state)
    if entry is None:
        view.states[state.job_id] = state
        _settled_index(view).pop(state.job_id, None)
    else:
        view.states.pop(state.job_id, None)
        _settled_index(view)[state.job_id] = entry


def _insert_alerts(conn: sqlite3.Connection, alerts: Sequence[Alert], stamp: str) -> list[Alert]:
    """The one INSERT of an alert into the outbox; returns those not already there (the
    unique dedup key keeps a fact from being enqueued twice)."""
    enqueued: list[Alert] = []
    for alert in alerts:
        cur = conn.execute(
            "INSERT OR IGNORE INTO alerts "
            "(dedup_key, provider, job_id, kind, severity, created_at, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                alert.dedup_key,
                alert.provider,
                alert.job_id,
                str(alert.kind),
                str(alert.severity),
                stamp,
                alert.to_json(),
            ),
        )
        if cur.rowcount:
            enqueued.append(alert)
    return enqueued
