"""The SQLite state file itself: opened safely, checked, and migrated to today's schema.

Apart from the store (`sqlite`) because none of it is about what is kept: a new file is
created 0600 (its directory 0700) before SQLite opens it; a file that is not ours is never
touched; a damaged one (failing SQLite's `quick_check`) is refused before any write; an
older schema is migrated forward, one transaction per version; a newer one is refused.
A read-only open (`ftmon status`) creates, adopts and migrates nothing.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from monitor.core.errors import NotAStateFile, StoreError
from monitor.storage import jobs, ledger_rows
from monitor.storage.sql import transaction

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

# Version 7: job states are nested records (`memory.JobState`). Rows written before stay
# as they are and are regrouped when read (`core.state_layout`); the version only makes
# an older ftmon refuse the file rather than misread the new layout.
_V7 = "SELECT 1"

MIGRATIONS: Sequence[str] = (
    _V1,
    _V2,
    _V3,
    jobs.MIGRATION,
    _V5,
    ledger_rows.MIGRATION,
    _V7,
)

Connect = Callable[[Path, float], sqlite3.Connection]


def _connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that cannot create, migrate or write the file (`ftmon status`)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)


def plain_connect(path: Path, timeout: float) -> sqlite3.Connection:
    """How the store opens its file: autocommit (transactions are explicit), one thread at
    a time but not always the one that opened it (delivery runs in worker threads)."""
    return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)


def open_file(
    path: Path, *, timeout: float, connect: Connect | None, read_only: bool
) -> sqlite3.Connection:
    """A connection to the state file at `path`, made private, checked and migrated; with
    `read_only`, an existing file as it is, or NotAStateFile."""
    if read_only and not path.is_file():
        raise NotAStateFile(f"{path}: no ftmon state file here (ftmon run creates it)")
    if not read_only:
        _prepare_private_dir(path)
        _create_private(path)
    try:
        if read_only:
            conn = _connect_read_only(path, timeout)
        else:
            conn = (connect or plain_connect)(path, timeout)
        _check_ours(conn, path, adopt_empty=not read_only)
        _check_version(conn, path)
        if not read_only:
            _check_intact(conn, path)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            _migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the state database: {exc}") from exc
    if not read_only:
        _restrict_file(path)
    return conn


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
