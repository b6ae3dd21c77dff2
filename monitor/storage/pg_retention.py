"""Retention in PostgreSQL: the rules of `retention` (SQLite), the same constants and cutoff.

Any replica may run a pass; the pass takes `meta`'s `pruned_at` row `FOR UPDATE` first, so
two replicas never prune at once and the once-an-hour rule holds across them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from monitor.storage.base import Pruned
from monitor.storage.pg_schema import Conn, Pool, transaction
from monitor.storage.retention import ALERTS_KEPT, EVERY, JOBS_MARGIN, jobs_cutoff

# Alerts routed before :cutoff with no delivery still to make, with their rows, at once.
_DELETE_OLD = """
WITH old AS (
    SELECT id FROM alerts WHERE routed_at IS NOT NULL AND created_at < %(cutoff)s
    AND NOT EXISTS (SELECT 1 FROM deliveries d
                    WHERE d.alert_id = alerts.id AND d.status IN ('pending', 'held'))),
at AS (DELETE FROM attempts WHERE alert_id IN (SELECT id FROM old) RETURNING 1),
de AS (DELETE FROM deliveries WHERE alert_id IN (SELECT id FROM old) RETURNING 1),
al AS (DELETE FROM alerts WHERE id IN (SELECT id FROM old) RETURNING 1)
SELECT (SELECT count(*) FROM al), (SELECT count(*) FROM de), (SELECT count(*) FROM at)
"""
# A job's creation time and its `vanished` fact, from its state's JSON.
_OLDEST_OPEN = """
SELECT min(((state::jsonb) ->> 'created_at')::timestamptz) FROM jobs
WHERE provider = %s AND NOT terminal AND NOT ((state::jsonb) -> 'facts' ? 'vanished')
"""
_FINISHED_BEFORE = """
DELETE FROM jobs WHERE provider = %s AND ((state::jsonb) ->> 'created_at')::timestamptz < %s
AND (terminal OR (state::jsonb) -> 'facts' ? 'vanished') RETURNING job_id
"""


def pruned_before(conn: Conn, provider: str) -> datetime | None:
    value = read_meta(conn, f"jobs_pruned_before:{provider}")
    return datetime.fromisoformat(value) if value else None


def prune_if_due(
    pool: Pool, now: datetime, lookbacks: Mapping[str, timedelta], every: timedelta = EVERY
) -> Pruned | None:
    """One pass if the last (by any replica) is `every` or more ago, in one transaction."""
    with transaction(pool, "could not prune old rows") as conn:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('pruned_at', '') ON CONFLICT DO NOTHING"
        )
        row = conn.execute("SELECT value FROM meta WHERE key = 'pruned_at' FOR UPDATE").fetchone()
        if row and row[0] and now - datetime.fromisoformat(row[0]) < every:
            return None
        counts = conn.execute(_DELETE_OLD, {"cutoff": now - ALERTS_KEPT}).fetchone() or (0, 0, 0)
        jobs = sum(_prune_jobs(conn, p, now, lb) for p, lb in sorted(lookbacks.items()))
        write_meta(conn, "pruned_at", now.isoformat())
        alerts, deliveries, attempts = (int(n) for n in counts)
        return Pruned(alerts=alerts, deliveries=deliveries, attempts=attempts, jobs=jobs)


def _prune_jobs(conn: Conn, provider: str, now: datetime, lookback: timedelta) -> int:
    row = conn.execute(_OLDEST_OPEN, (provider,)).fetchone()
    cutoff = jobs_cutoff(now, lookback, row[0] if row else None, JOBS_MARGIN)
    ids = conn.execute(_FINISHED_BEFORE, (provider, cutoff)).fetchall()
    key = f"jobs_pruned_before:{provider}"
    known = read_meta(conn, key)
    if ids and (known is None or datetime.fromisoformat(known) < cutoff):
        write_meta(conn, key, cutoff.isoformat())
    return len(ids)


def read_meta(conn: Conn, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
    return str(row[0]) if row else None


def write_meta(conn: Conn, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (%s, %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
