"""The cost ledger's tables (SQLite): one row per job, and the marks of budget alerts.

`ledger` holds each job's `core.ledger.Entry`, rewritten with the job's state in the poll's
own transaction (`write`), so a re-poll or a replay rewrites the same row and retention,
which forgets old job states, never touches it. `marks` records what was told once per
period (a budget threshold, a day's digest) beside the alert, in one transaction
(`enqueue_marked`), so neither a restart nor a second process tells it again. Neither
table is pruned: a row per job and a few marks a day.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from monitor.core.alerts import Alert
from monitor.core.budgets import Marked
from monitor.core.errors import StoreError
from monitor.core.ledger import Entry, entry
from monitor.core.memory import JobState
from monitor.storage.sql import file_of, ts

# Version 6: the ledger, filled from the job states already stored (their latest price;
# refunds from before the ledger were not kept with an amount), and the marks.
MIGRATION = """
CREATE TABLE ledger (
    provider TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (provider, job_id)
);
CREATE INDEX ledger_by_time ON ledger (created_at);
CREATE TABLE marks (
    mark TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
INSERT INTO ledger (provider, job_id, created_at, entry)
SELECT provider, job_id, json_extract(state, '$.created_at'), json_object(
    'provider', provider, 'job_id', job_id,
    'provider_kind', json_extract(state, '$.kind'),
    'created_at', json_extract(state, '$.created_at'),
    'status', json_extract(state, '$.status'),
    'model', json_extract(state, '$.model'),
    'price_usd', json_extract(state, '$.price_usd'),
    'peak_usd', json_extract(state, '$.price_usd'),
    'trained_tokens', NULL, 'refunds', json('[]'),
    'restart_of', json_extract(state, '$.restart_of'))
FROM jobs
"""

_UPSERT = (
    "INSERT INTO ledger (provider, job_id, created_at, entry) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (provider, job_id) DO UPDATE SET created_at = excluded.created_at, "
    "entry = excluded.entry"
)
SLACK = timedelta(days=1)  # the SQL bound is loose; the core filters to the instant


def write(conn: sqlite3.Connection, states: Sequence[JobState]) -> None:
    """Each state's ledger row (inside the caller's transaction)."""
    rows = [(s.provider, s.job_id, ts(s.created_at), entry(s).to_json()) for s in states]
    conn.executemany(_UPSERT, rows)


def read(conn: sqlite3.Connection, since: datetime | None) -> list[Entry]:
    """The entries of jobs submitted since about `since`. A file from before the ledger
    (opened read-only, so not migrated) says so instead of failing on a missing table."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'ledger'").fetchone()
    if found is None:
        raise StoreError(
            f"{file_of(conn)}: this state file predates the cost ledger; "
            "`ftmon run` (or `run --once`) upgrades it"
        )
    if since is None:
        rows = conn.execute("SELECT entry FROM ledger").fetchall()
    else:
        bound = ts(since - SLACK)
        rows = conn.execute("SELECT entry FROM ledger WHERE created_at >= ?", (bound,)).fetchall()
    return [Entry.from_json(r[0]) for r in rows]


def enqueue_marked(
    conn: sqlite3.Connection,
    items: Sequence[Marked],
    now: datetime,
    insert: Callable[[sqlite3.Connection, Sequence[Alert], str], list[Alert]],
) -> list[Alert]:
    """Enqueue each alert whose first mark is new, recording its marks (in the caller's
    transaction); returns the alerts enqueued."""
    stamp, enqueued = ts(now), list[Alert]()
    for item in items:
        first, *rest = item.marks
        cur = conn.execute("INSERT OR IGNORE INTO marks (mark, at) VALUES (?, ?)", (first, stamp))
        conn.executemany(
            "INSERT OR IGNORE INTO marks (mark, at) VALUES (?, ?)", [(m, stamp) for m in rest]
        )
        if cur.rowcount:
            enqueued += insert(conn, [item.alert], stamp)
    return enqueued
