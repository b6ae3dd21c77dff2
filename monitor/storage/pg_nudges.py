"""Webhook nudges shared by replicas: a table of (provider, job id) and a NOTIFY channel.

Any replica that receives a verified webhook records the nudge here; duplicates collapse on
the primary key (a job nudged twice before the leader looks is read once). The same
transaction sends `NOTIFY ftmon_nudges, '<provider>'`, delivered at commit, so the leader
(LISTENing on a connection of its own, `NudgeListener`) wakes at once and takes the rows
(`DELETE … RETURNING`: two takers never both get one). A notification lost while the
listener reconnects costs nothing but time: the leader also takes the pending rows at the
start of each poll. A nudge carries no fact, only "read this job now", so a row read twice
or never costs at most one API read or one poll interval, never an alert.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from monitor.core.errors import StoreError
from monitor.storage.pg_schema import Conn, Pool, _reason, transaction

CHANNEL = "ftmon_nudges"
STALE = "1 day"  # a row no leader took for this long (its provider is gone) is dropped


def record(pool: Pool, nudges: Iterable[tuple[str, str]]) -> None:
    """Record the (provider, job id) nudges and wake whoever leads each provider."""
    rows = sorted(set(nudges))
    if not rows:
        return
    with transaction(pool, "could not record a webhook nudge") as conn:
        conn.cursor().executemany(
            "INSERT INTO nudges (provider, job_id) VALUES (%s, %s) ON CONFLICT DO NOTHING", rows
        )
        for provider in sorted({p for p, _ in rows}):
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, provider))


def take(pool: Pool, provider: str) -> frozenset[str]:
    """The job ids nudged for `provider`, removed (older strays of any provider too)."""
    with transaction(pool, "could not take the webhook nudges") as conn:
        conn.execute("DELETE FROM nudges WHERE at < now() - %s::interval", (STALE,))
        rows = conn.execute(
            "DELETE FROM nudges WHERE provider = %s RETURNING job_id", (provider,)
        ).fetchall()
    return frozenset(str(r[0]) for r in rows)


class NudgeListener:
    """A connection of its own, LISTENing: `wait` says which providers were nudged."""

    def __init__(self, url: str, kwargs: dict[str, Any], where: str) -> None:
        self._where = where
        try:
            self._conn: Conn = psycopg.connect(url, **kwargs)
            self._conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def wait(self, timeout: float) -> frozenset[str]:
        """Block up to `timeout` seconds for notifications; the providers they name."""
        try:
            names = {n.payload for n in self._conn.notifies(timeout=timeout, stop_after=1)}
            names |= {n.payload for n in self._conn.notifies(timeout=0)}  # the rest, queued
        except psycopg.Error as exc:
            raise self._error(exc) from exc
        return frozenset(names)

    def close(self) -> None:
        self._conn.close()

    def _error(self, exc: psycopg.Error) -> StoreError:
        return StoreError(f"{self._where}: cannot listen for webhook nudges: {_reason(exc)}")
