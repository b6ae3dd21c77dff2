"""What every SQLite statement of the store shares: one timestamp form, one transaction.

Timestamps are written in one fixed-width UTC form, so they compare correctly as text in
SQL. Every write is one `BEGIN IMMEDIATE … COMMIT` through `transaction`, which rolls back
on any error and names the file in the StoreError.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from monitor.core.errors import StoreError


def ts(at: datetime) -> str:
    """The one stored form of an instant: UTC, microseconds, fixed width."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def aware(at: datetime) -> datetime:
    """A stored instant read back, as an aware UTC datetime (rows of older versions too)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@contextmanager
def transaction(conn: sqlite3.Connection, failure: str) -> Iterator[sqlite3.Connection]:
    """One write transaction; any SQLite error rolls it back and becomes a StoreError
    saying `failure` ("could not record the poll") for the file behind `conn`."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"{file_of(conn)}: {failure}: {exc}") from exc
        raise


def file_of(conn: sqlite3.Connection) -> str:
    """The file behind a connection, for error messages (the state path names the problem)."""
    try:
        row = conn.execute("PRAGMA database_list").fetchone()
    except sqlite3.Error:
        return "state database"
    return str(row[2]) if row and row[2] else "state database"
