"""The `jobs` table: one row per job, settled ones readable without decoding their state.

A row carries the job's state as JSON and, beside it, what a poll needs of a settled job
(`plan.settled`: finished, nothing left to alert unless the provider changes it): its raw
status, its snapshot mark and its creation time, with `settled = 1`. A poll then decodes
only the rows of jobs that can still change (a few thousand on a busy account, out of
tens of thousands), reads three short columns for the rest, and decodes a settled job's
state again only when the provider changed that job (`load`).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime

from monitor.core import plan
from monitor.core.memory import JobState

# Version 4: settled jobs are read from their columns; existing rows filled from the JSON.
MIGRATION = """
ALTER TABLE jobs ADD COLUMN settled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN raw_status TEXT;
ALTER TABLE jobs ADD COLUMN mark TEXT;
ALTER TABLE jobs ADD COLUMN created_at TEXT;
UPDATE jobs SET raw_status = json_extract(state, '$.raw_status'),
    mark = json_extract(state, '$.snapshot_mark'),
    created_at = json_extract(state, '$.created_at');
UPDATE jobs SET settled = 1 WHERE terminal = 1
    AND json_extract(state, '$.awaiting_restart_since') IS NULL
    AND json_extract(state, '$.restarted_as') IS NULL
    AND (SELECT count(*) FROM json_each(state, '$.conditions')) = 0
"""

_UPSERT = (
    "INSERT INTO jobs (provider, job_id, status, terminal, changed_at, state, settled, "
    "raw_status, mark, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (provider, job_id) DO UPDATE SET status = excluded.status, "
    "terminal = excluded.terminal, changed_at = excluded.changed_at, state = excluded.state, "
    "settled = excluded.settled, raw_status = excluded.raw_status, mark = excluded.mark, "
    "created_at = excluded.created_at"
)
_BY_ID_CHUNK = 500  # ids per `IN (...)`, well under SQLite's variable limit


def write(conn: sqlite3.Connection, states: Sequence[JobState], stamp: str) -> None:
    """Upsert the rows of `states` (inside the caller's transaction)."""
    conn.executemany(
        _UPSERT,
        [
            (
                s.provider,
                s.job_id,
                str(s.status),
                int(s.status.terminal),
                stamp,
                s.to_json(),
                int(plan.settled(s) is not None),
                s.raw_status,
                s.marks.snapshot,
                s.created_at.isoformat(),
            )
            for s in states
        ],
    )


def read_open(conn: sqlite3.Connection, provider: str) -> dict[str, JobState]:
    """The whole states of the provider's jobs that are not settled."""
    rows = conn.execute(
        "SELECT state FROM jobs WHERE provider = ? AND settled = 0", (provider,)
    ).fetchall()
    return {s.job_id: s for s in (JobState.from_json(r[0]) for r in rows)}


def read_settled(conn: sqlite3.Connection, provider: str) -> dict[str, plan.Settled]:
    """The index entries of the provider's settled jobs (no JSON decoded)."""
    rows = conn.execute(
        "SELECT job_id, raw_status, mark, created_at FROM jobs WHERE provider = ? AND settled = 1",
        (provider,),
    )
    return {
        job_id: plan.Settled(
            raw_status=sys.intern(raw), mark=mark, created_at=datetime.fromisoformat(created)
        )
        for job_id, raw, mark, created in rows
    }


def load(conn: sqlite3.Connection, provider: str, job_ids: Iterable[str]) -> dict[str, JobState]:
    """The whole states of these jobs (those that have a row)."""
    ids = list(job_ids)
    out: dict[str, JobState] = {}
    for start in range(0, len(ids), _BY_ID_CHUNK):
        chunk = ids[start : start + _BY_ID_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT state FROM jobs WHERE provider = ? AND job_id IN ({marks})",  # noqa: S608
            (provider, *chunk),
        )
        out.update((s.job_id, s) for s in (JobState.from_json(r[0]) for r in rows))
    return out
