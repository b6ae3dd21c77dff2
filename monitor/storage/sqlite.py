"""Durable state: job state, provider health and the alert outbox, in one SQLite file.

The rule that matters: one poll of a provider is committed in ONE transaction — the new
job states, the provider's health and every alert they raised. A crash at any instant
leaves either the old state with none of the new alerts, or the new state with all of
them; the next poll then detects the same change again, and the outbox's unique dedup
key keeps any alert from being enqueued twice.

The file carries an application id and a schema version. A file that is not ours is
never touched; a damaged one (failing SQLite's `quick_check`) is refused before any write;
an older schema is migrated forward; a newer one is refused. A new file is created 0600
(its directory 0700) before SQLite opens it. What the file forgets, and when, is
`retention.py`.

Reads are cached: a provider's open job states are decoded from the file once, on its
first `load_provider` (settled jobs only as index entries, `jobs.py`), and the cache then
follows every `commit_poll` after its COMMIT (a failed commit leaves it as the file is).
So a poll neither re-reads nor re-decodes the states it did not change, and only the rows
of states that changed are written. This
process is the only writer of job states; other processes (`ftmon status`) only read.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.core import plan
from monitor.core.alerts import Alert
from monitor.core.errors import NotAStateFile, StoreError
from monitor.core.explain import AlertRecord
from monitor.core.model import JobState, ProviderHealth
from monitor.core.plan import Settled
from monitor.storage import history, jobs, retention
from monitor.storage.base import Lease, ProviderView, Pruned, Replica
from monitor.storage.outbox import SqliteOutbox
from monitor.storage.sql import transaction, ts

APPLICATION_ID = 0x46544D4E  # "FTMN"


_V1 = """
CREATE TABLE jobs (
    provider TEXT NOT NULL,
    job_id TEXT NOT NULL,
    status TEXT NOT NULL,
    terminal INTEGER NOT NULL,
    changed_at TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (provider, job_id)
);
CREATE TABLE providers (
    provider TEXT PRIMARY KEY,
    health TEXT NOT NULL
);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    provider TEXT NOT NULL,
    job_id TEXT,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    routed_at TEXT
);
CREATE INDEX alerts_unrouted ON alerts (routed_at) WHERE routed_at IS NULL;
CREATE TABLE deliveries (
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error TEXT,
    sent_at TEXT,
    PRIMARY KEY (alert_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT
);
CREATE TABLE channels (
    channel TEXT PRIMARY KEY,
    disabled_at TEXT,
    reason TEXT,
    fingerprint TEXT
);
"""

# Version 2: retention (`retention.py`) keeps when it last ran and each provider's cutoff
# in `meta`, and deletes attempts by alert.
_V2 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE INDEX attempts_by_alert ON attempts (alert_id);
"""

# Version 3: each delivery row keeps the route that sent it (`policy.RoutedBy`, as JSON),
# so routes are matched once per alert and a reload does not regroup rows already routed.
_V3 = """
ALTER TABLE deliveries ADD COLUMN route TEXT;
"""

# Version 5: the signal words of job states written before the providers normalized their
# event kinds become today's, so a job mid-cancellation during the upgrade keeps its cause.
_V5 = """
UPDATE jobs SET state = json_set(state, '$.signals', (
  SELECT json_group_array(CASE value
    WHEN 'cancel_requested' THEN 'cancel' WHEN 'refund' THEN 'refunded'
    WHEN 'user_error' THEN 'input_error' ELSE value END)
  FROM json_each(state, '$.signals')))
WHERE EXISTS (SELECT 1 FROM json_each(state, '$.signals')
  WHERE value IN ('cancel_requested', 'refund', 'user_error'))
"""

MIGRATIONS: Sequence[str] = (_V1, _V2, _V3, jobs.MIGRATION, _V5)

Connect = Callable[[Path, float], sqlite3.Connection]


def _connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that cannot create, migrate or write the file (`ftmon status`)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)


def plain_connect(path: Path, timeout: float) -> sqlite3.Connection:
    """How the store opens its file: autocommit (transactions are explicit), one thread at
    a time but not always the one that opened it (delivery runs in worker threads)."""
    return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)


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
        if read_only and not path.is_file():
            raise NotAStateFile(f"{path}: no ftmon state file here (ftmon run creates it)")
        if not read_only:
            _prepare_private_dir(path)
            _create_private(path)
        try:
            if read_only:
                self.connection = _connect_read_only(path, timeout)
            else:
                self.connection = (connect or plain_connect)(path, timeout)
            _check_ours(self.connection, path, adopt_empty=not read_only)
            _check_version(self.connection, path)
            if not read_only:
                _check_intact(self.connection, path)
                self.connection.execute("PRAGMA journal_mode=WAL")
                self.connection.execute("PRAGMA synchronous=NORMAL")
                self.connection.execute("PRAGMA foreign_keys=ON")
                _migrate(self.connection, path)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the state database: {exc}") from exc
        if not read_only:
            _restrict_file(path)
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


def _prepare_private_dir(path: Path) -> None:
    """The state directory is created private (0700); an existing one is left as is."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        try:
            parent.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise StoreError(f"{parent}: cannot create the state directory: {exc}") from exc


def _create_private(path: Path) -> None:
    """A new state file is created 0600 before SQLite opens it: never readable by others,
    not even for the instant before a chmod."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the state database: {exc}") from exc
    os.close(fd)


def _check_intact(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a damaged file before writing to it: writing would spread the damage."""
    problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
    if problems != ["ok"]:
        raise StoreError(
            f"{path}: the state database is damaged ({problems[0]}); ftmon will not write to "
            "it. Move it aside (ftmon then starts afresh, alerting what changes from then on) "
            "or restore a backup."
        )


def _restrict_file(path: Path) -> None:
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists():
            candidate.chmod(0o600)


def _check_ours(conn: sqlite3.Connection, path: Path, *, adopt_empty: bool) -> None:
    """Refuse a database that belongs to something else, before writing a byte; a new,
    empty file is made ours unless the caller only reads."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id == APPLICATION_ID:
        return
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app_id == 0 and tables == 0 and adopt_empty:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        return
    raise NotAStateFile(
        f"{path}: this file is not an ftmon state database; refusing to touch it. "
        "Point [monitor] state at another path."
    )


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file from a newer ftmon before writing a byte (not even the journal mode)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError(
            f"{path}: schema version {version} is newer than this ftmon understands "
            f"({len(MIGRATIONS)}); upgrade ftmon or use another state file"
        )


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    _check_version(conn, path)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with transaction(conn, f"could not migrate to schema version {number}"):
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
