"""Retention: what the state file forgets, so it stops growing (shell, over the store's
connection).

What goes, at most once an hour (`due`, run by the daemon and by `run --once`):

- **Delivered alerts.** An alert created more than `ALERTS_KEPT` (30 days) ago whose every
  delivery is final (sent, failed, given up or inhibited), or that matched no route, is deleted
  with its deliveries and attempts. An alert still pending or held is kept however old
  (the dispatcher gives it up after a day; it goes 30 days after that).
- **Finished jobs.** The state (by then a tombstone) of a finished or vanished job created
  before its provider's job list can reach again: more than `lookback` + `JOBS_MARGIN`
  ago, and before the oldest job still open (the list reaches back to that one). The
  cutoff is remembered per provider (`jobs_pruned_before`); a listed job older than it
  that has no state is not looked at, so a job forgotten here can never come back as new
  (after `lookback` is raised, say) and alert a second time.

Kept for good: open jobs, provider health, channel state, alerts not yet routed. SQLite
reuses the pages freed, so the file stops growing rather than shrinking.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime, timedelta

from monitor.storage.base import Pruned
from monitor.storage.sql import transaction, ts

ALERTS_KEPT = timedelta(days=30)
JOBS_MARGIN = timedelta(days=1)
EVERY = timedelta(hours=1)

# An alert older than :cutoff, routed, with no delivery still to make.
_DELETE_ATTEMPTS = """
DELETE FROM attempts WHERE alert_id IN (
    SELECT id FROM alerts WHERE routed_at IS NOT NULL
    AND julianday(created_at) < julianday(:cutoff) AND NOT EXISTS (
        SELECT 1 FROM deliveries d
        WHERE d.alert_id = alerts.id AND d.status IN ('pending', 'held')))
"""
_DELETE_DELIVERIES = """
DELETE FROM deliveries WHERE alert_id IN (
    SELECT id FROM alerts WHERE routed_at IS NOT NULL
    AND julianday(created_at) < julianday(:cutoff) AND NOT EXISTS (
        SELECT 1 FROM deliveries d
        WHERE d.alert_id = alerts.id AND d.status IN ('pending', 'held')))
"""
_DELETE_ALERTS = """
DELETE FROM alerts WHERE routed_at IS NOT NULL
AND julianday(created_at) < julianday(:cutoff) AND NOT EXISTS (
    SELECT 1 FROM deliveries d WHERE d.alert_id = alerts.id AND d.status IN ('pending', 'held'))
"""
# A job is open while it is neither finished nor gone (a 404 was already alerted).
_OLDEST_OPEN = """
SELECT json_extract(state, '$.created_at') FROM jobs
WHERE provider = ? AND terminal = 0
AND NOT EXISTS (SELECT 1 FROM json_each(state, '$.facts') WHERE value = 'vanished')
ORDER BY julianday(json_extract(state, '$.created_at')) LIMIT 1
"""
_FINISHED_BEFORE = """
SELECT job_id FROM jobs
WHERE provider = ? AND julianday(json_extract(state, '$.created_at')) < julianday(?)
AND (terminal = 1 OR EXISTS (SELECT 1 FROM json_each(state, '$.facts') WHERE value = 'vanished'))
"""


def jobs_cutoff(
    now: datetime, lookback: timedelta, oldest_open: datetime | None, margin: timedelta
) -> datetime:
    """Finished jobs created before this are beyond every future job list (pure)."""
    horizon = now - lookback - margin
    return horizon if oldest_open is None else min(horizon, oldest_open - margin)


def due(conn: sqlite3.Connection, now: datetime, every: timedelta = EVERY) -> bool:
    """True when the last pass is `every` or more ago (or there was none)."""
    last = read_meta(conn, "pruned_at")
    return last is None or now - datetime.fromisoformat(last) >= every


def pruned_before(conn: sqlite3.Connection, provider: str) -> datetime | None:
    """The creation time before which `provider`'s finished jobs were forgotten."""
    value = read_meta(conn, f"jobs_pruned_before:{provider}")
    return datetime.fromisoformat(value) if value else None


def prune(
    conn: sqlite3.Connection,
    now: datetime,
    lookbacks: Mapping[str, timedelta],
    *,
    alerts_kept: timedelta = ALERTS_KEPT,
    margin: timedelta = JOBS_MARGIN,
) -> tuple[Pruned, dict[str, list[str]]]:
    """One pass, in one transaction: old delivered alerts, then finished jobs of each
    provider in `lookbacks` (provider -> its lookback). Returns the counts and the job ids
    forgotten per provider."""
    forgotten: dict[str, list[str]] = {}
    cutoff = {"cutoff": ts(now - alerts_kept)}
    with transaction(conn, "could not prune old rows"):
        attempts = conn.execute(_DELETE_ATTEMPTS, cutoff).rowcount
        deliveries = conn.execute(_DELETE_DELIVERIES, cutoff).rowcount
        alerts = conn.execute(_DELETE_ALERTS, cutoff).rowcount
        for provider, lookback in sorted(lookbacks.items()):
            forgotten[provider] = _prune_jobs(conn, provider, now, lookback, margin)
        write_meta(conn, "pruned_at", ts(now))
    jobs = sum(len(ids) for ids in forgotten.values())
    counts = Pruned(alerts=alerts, deliveries=deliveries, attempts=attempts, jobs=jobs)
    return counts, forgotten


def _prune_jobs(
    conn: sqlite3.Connection, provider: str, now: datetime, lookback: timedelta, margin: timedelta
) -> list[str]:
    row = conn.execute(_OLDEST_OPEN, (provider,)).fetchone()
    oldest_open = datetime.fromisoformat(row[0]) if row and row[0] else None
    cutoff = jobs_cutoff(now, lookback, oldest_open, margin)
    ids = [r[0] for r in conn.execute(_FINISHED_BEFORE, (provider, ts(cutoff))).fetchall()]
    conn.executemany(
        "DELETE FROM jobs WHERE provider = ? AND job_id = ?", [(provider, i) for i in ids]
    )
    key = f"jobs_pruned_before:{provider}"
    known = read_meta(conn, key)
    if ids and (known is None or datetime.fromisoformat(known) < cutoff):
        write_meta(conn, key, ts(cutoff))
    return ids


def read_meta(conn: sqlite3.Connection, key: str) -> str | None:
    """A value of the `meta` table (retention's marks; the checked channel set)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def write_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
