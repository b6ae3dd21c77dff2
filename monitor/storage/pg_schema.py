"""The PostgreSQL state's schema, its versioned migrations, and the one transaction helper.

One table, `ftmon_schema`, records every migration applied (version, when). A replica
applies the missing ones at start, all replicas starting at once taking turns on a
transaction-scoped advisory lock (it ends with the transaction, so it works through a
transaction-pooling proxy). A database whose schema is newer than this code is refused
before anything is written, as the SQLite store refuses a newer file; so is a database
that holds other tables but no `ftmon_schema` (it is not ours).

The tables mirror the SQLite ones (`sqlite_file._V1`), timestamps as `timestamptz`, plus the
shared-replica tables: `leases` (one row per provider: holder, epoch, expiry, on the
database's clock), `replicas` (each replica's last word, for `ftmon status`), `buckets`
(shared rate limits), `nudges` (webhook nudges waiting for the provider's leader), and
`ledger` and `marks` (the cost ledger, `pg_ledger`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg_pool

from monitor.core.errors import StoreError

Conn = psycopg.Connection[tuple[Any, ...]]
Pool = psycopg_pool.ConnectionPool[Conn]

_V1 = """
CREATE TABLE jobs (
    provider text NOT NULL,
    job_id text NOT NULL,
    status text NOT NULL,
    terminal boolean NOT NULL,
    changed_at timestamptz NOT NULL,
    state text NOT NULL,
    PRIMARY KEY (provider, job_id)
);
CREATE TABLE providers (provider text PRIMARY KEY, health text NOT NULL);
CREATE TABLE alerts (
    id bigserial PRIMARY KEY,
    dedup_key text NOT NULL UNIQUE,
    provider text NOT NULL,
    job_id text,
    kind text NOT NULL,
    severity text NOT NULL,
    created_at timestamptz NOT NULL,
    payload text NOT NULL,
    routed_at timestamptz
);
CREATE INDEX alerts_unrouted ON alerts (id) WHERE routed_at IS NULL;
CREATE TABLE deliveries (
    alert_id bigint NOT NULL REFERENCES alerts (id),
    channel text NOT NULL,
    status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error text,
    sent_at timestamptz,
    route text,
    PRIMARY KEY (alert_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE TABLE attempts (
    id bigserial PRIMARY KEY,
    alert_id bigint NOT NULL,
    channel text NOT NULL,
    at timestamptz NOT NULL,
    outcome text NOT NULL,
    error text
);
CREATE INDEX attempts_by_alert ON attempts (alert_id);
CREATE TABLE channels (
    channel text PRIMARY KEY,
    disabled_at timestamptz,
    reason text,
    fingerprint text
);
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE leases (
    provider text PRIMARY KEY,
    holder text NOT NULL,
    epoch bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    renewed_at timestamptz NOT NULL
);
CREATE TABLE replicas (
    holder text PRIMARY KEY,
    started_at timestamptz NOT NULL,
    seen_at timestamptz NOT NULL,
    note text NOT NULL DEFAULT ''
)
"""

# Version 2: each channel's rate-limit bucket, shared by every replica's dispatcher.
_V2 = """
CREATE TABLE buckets (
    channel text PRIMARY KEY,
    tokens double precision NOT NULL,
    updated timestamptz
)
"""

# Version 3: webhook nudges any replica records for the provider's leader (`pg_nudges`);
# one row per (provider, job), so a nudge repeated before the leader takes it collapses.
_V3 = """
CREATE TABLE nudges (
    provider text NOT NULL,
    job_id text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, job_id)
)
"""

# Version 4: the cost ledger (`pg_ledger`), filled from the stored job states, and the
# marks of what is told once per period.
_V4 = """
CREATE TABLE ledger (
    provider text NOT NULL,
    job_id text NOT NULL,
    created_at timestamptz NOT NULL,
    entry text NOT NULL,
    PRIMARY KEY (provider, job_id)
);
CREATE INDEX ledger_by_time ON ledger (created_at);
CREATE TABLE marks (mark text PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO ledger (provider, job_id, created_at, entry)
SELECT provider, job_id, (state::jsonb ->> 'created_at')::timestamptz, json_build_object(
    'provider', provider, 'job_id', job_id,
    'provider_kind', state::jsonb -> 'kind',
    'created_at', state::jsonb -> 'created_at',
    'status', state::jsonb -> 'status',
    'model', state::jsonb -> 'model',
    'price_usd', state::jsonb -> 'price_usd',
    'peak_usd', state::jsonb -> 'price_usd',
    'trained_tokens', NULL, 'refunds', json_build_array(),
    'restart_of', state::jsonb -> 'restart_of')::text
FROM jobs
"""

# Version 5: job states are nested records (`memory.JobState`). Rows written before are
# regrouped when read (`core.state_layout`); the version makes an older replica refuse
# the database rather than misread the new layout.
_V5 = "SELECT 1"

MIGRATIONS: Sequence[str] = (_V1, _V2, _V3, _V4, _V5)
_LOCK = 0x46544D4E  # "FTMN": the advisory lock replicas take turns on while migrating


def where(pool: Pool) -> str:
    """The database named for messages, without its password."""
    return f"state database {pool.name}"


@contextmanager
def transaction(pool: Pool, failure: str) -> Iterator[Conn]:
    """One write transaction from the pool; any database error (the server gone, a pool
    timeout) rolls it back and becomes a StoreError saying `failure`, naming the database."""
    with reading(pool, failure) as conn, conn.transaction():
        yield conn


@contextmanager
def reading(pool: Pool, failure: str = "cannot read the state database") -> Iterator[Conn]:
    """A connection from the pool (autocommit: each statement is its own transaction)."""
    try:
        with pool.connection() as conn:
            yield conn
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        raise StoreError(f"{where(pool)}: {failure}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def migrate(pool: Pool) -> int:
    """Bring the schema up to date (or refuse); returns the version now in place."""
    with transaction(pool, "could not migrate the schema") as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        version = _version(conn, pool)
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement.encode())
            conn.execute("INSERT INTO ftmon_schema (version) VALUES (%s)", (number,))
    return len(MIGRATIONS)


def check_readable(pool: Pool) -> int:
    """The version in place, for a command that only reads (`status`, `cost`): it never
    creates nor migrates the schema, so running one against a shared database cannot make
    replicas of the previous release refuse it."""
    with reading(pool) as conn:
        found = conn.execute("SELECT to_regclass('ftmon_schema') IS NOT NULL").fetchone()
        if found is None or not found[0]:
            raise StoreError(f"{where(pool)}: holds no ftmon state yet; `ftmon run` creates it")
        return _known(conn, pool)


def _version(conn: Conn, pool: Pool) -> int:
    found = conn.execute("SELECT to_regclass('ftmon_schema') IS NOT NULL").fetchone()
    if found is None or not found[0]:
        _check_empty(conn, pool)
        conn.execute(
            "CREATE TABLE ftmon_schema (version integer PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        return 0
    return _known(conn, pool)


def _known(conn: Conn, pool: Pool) -> int:
    """The version in place, refused when a newer ftmon wrote it."""
    row = conn.execute("SELECT coalesce(max(version), 0) FROM ftmon_schema").fetchone()
    version = int(row[0]) if row else 0
    if version > len(MIGRATIONS):
        raise StoreError(
            f"{where(pool)}: schema version {version} is newer than this ftmon understands "
            f"({len(MIGRATIONS)}); upgrade ftmon or use another database"
        )
    return version


def _check_empty(conn: Conn, pool: Pool) -> None:
    """Refuse a database that holds other tables: it belongs to something else."""
    row = conn.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
    ).fetchone()
    if row and row[0]:
        raise StoreError(
            f"{where(pool)}: this database holds tables but is not an ftmon state; refusing "
            "to touch it. Point [monitor] state at an empty database."
        )
