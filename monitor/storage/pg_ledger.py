"""The cost ledger's tables in PostgreSQL: `ledger_rows` for several replicas.

The same rows as the SQLite ledger, written in the fenced poll transaction; a mark's
primary key decides which replica tells a budget threshold or a digest: the one whose
INSERT of the mark took, in the same transaction as its alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from monitor.core.alerts import Alert
from monitor.core.budgets import Marked
from monitor.core.errors import StoreError
from monitor.core.ledger import Entry, entry
from monitor.core.memory import JobState
from monitor.storage.ledger_rows import SLACK
from monitor.storage.pg_outbox import insert_alerts
from monitor.storage.pg_schema import Conn

_UPSERT = (
    "INSERT INTO ledger (provider, job_id, created_at, entry) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (provider, job_id) DO UPDATE SET created_at = excluded.created_at, "
    "entry = excluded.entry"
)
_MARK = "INSERT INTO marks (mark, at) VALUES (%s, %s) ON CONFLICT (mark) DO NOTHING"


def write(conn: Conn, states: Sequence[JobState]) -> None:
    rows = [(s.provider, s.job_id, s.created_at, entry(s).to_json()) for s in states]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(_UPSERT, rows)


def read(conn: Conn, since: datetime | None, name: str) -> list[Entry]:
    """The entries of jobs submitted since about `since`. A database from before the ledger
    (read by a command that does not migrate it) says so instead of a missing table."""
    found = conn.execute("SELECT to_regclass('ledger') IS NOT NULL").fetchone()
    if found is None or not found[0]:
        raise StoreError(
            f"{name}: this state database predates the cost ledger; `ftmon run` (or "
            "`run --once`) upgrades it"
        )
    if since is None:
        rows = conn.execute("SELECT entry FROM ledger").fetchall()
    else:
        query = "SELECT entry FROM ledger WHERE created_at >= %s"
        rows = conn.execute(query, (since - SLACK,)).fetchall()
    return [Entry.from_json(r[0]) for r in rows]


def enqueue_marked(conn: Conn, items: Sequence[Marked], now: datetime) -> list[Alert]:
    enqueued: list[Alert] = []
    for item in items:
        first, *rest = item.marks
        took = conn.execute(_MARK, (first, now)).rowcount
        for mark in rest:
            conn.execute(_MARK, (mark, now))
        if took:
            enqueued += insert_alerts(conn, [item.alert], now)
    return enqueued
