"""`ftmon state copy`: move a SQLite state file into an empty PostgreSQL state, as it is.

Everything is copied in one transaction, ids included: job states and provider health
(so the next poll diffs against them and raises nothing already raised), every alert with
its delivery rows and attempts (a row sent stays sent: nothing is sent again; a pending
or held row goes on where it was), disabled channels, retention's marks, the cost ledger
and the marks of what budgets and the digest told. A target that already holds jobs or
alerts is refused: two histories are never merged. The daemon on
the SQLite file must be stopped first (a copy taken mid-poll would miss that poll).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from monitor.core.errors import StoreError
from monitor.storage.pg_schema import Conn, transaction, where
from monitor.storage.postgresql import PgStore
from monitor.storage.sqlite import SqliteStore

Row = tuple[Any, ...]


def _same(row: Row) -> Row:
    return row


def _terminal_as_bool(row: Row) -> Row:
    provider, job_id, status, terminal, changed_at, state = row
    return (provider, job_id, status, bool(terminal), changed_at, state)


_JOBS = ("provider", "job_id", "status", "terminal", "changed_at", "state")
_ALERTS = (
    *("id", "dedup_key", "provider", "job_id", "kind"),
    *("severity", "created_at", "payload", "routed_at"),
)
_DELIVERIES = (
    *("alert_id", "channel", "status", "attempts"),
    *("next_attempt_at", "last_error", "sent_at", "route"),
)

# (table, its columns, a conversion from the SQLite row); parents before children.
TABLES: Sequence[tuple[str, tuple[str, ...], Callable[[Row], Row]]] = (
    ("jobs", _JOBS, _terminal_as_bool),
    ("providers", ("provider", "health"), _same),
    ("alerts", _ALERTS, _same),
    ("deliveries", _DELIVERIES, _same),
    ("attempts", ("id", "alert_id", "channel", "at", "outcome", "error"), _same),
    ("channels", ("channel", "disabled_at", "reason", "fingerprint"), _same),
    ("meta", ("key", "value"), _same),
    ("ledger", ("provider", "job_id", "created_at", "entry"), _same),
    ("marks", ("mark", "at"), _same),
)


def copy_state(source: SqliteStore, target: PgStore) -> dict[str, int]:
    """Copy every row of `source` into `target` (empty); returns the rows copied per table."""
    counts: dict[str, int] = {}
    with transaction(target.pool, "could not copy the state") as conn:
        _check_empty(conn, target)
        for table, columns, convert in TABLES:
            names = ", ".join(columns)
            rows = source.connection.execute(f"SELECT {names} FROM {table}").fetchall()  # noqa: S608
            marks = ", ".join(["%s"] * len(columns))
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({marks})".encode(),  # noqa: S608
                    [convert(tuple(r)) for r in rows],
                )
            counts[table] = len(rows)
        for table in ("alerts", "attempts"):  # new rows continue after the copied ids
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)".encode()
            )
    return counts


def _check_empty(conn: Conn, target: PgStore) -> None:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM alerts)"
    ).fetchone()
    if row and row[0]:
        raise StoreError(
            f"{where(target.pool)}: already holds a state ({row[0]} jobs and alerts); "
            "`ftmon state copy` only fills an empty database, it never merges two histories"
        )
