"""What the outbox remembers of the alerts about some jobs: for `ftmon explain`.

Reads only (`alerts`, `deliveries`, `attempts`; schema in `sqlite_file._V1`), so it is safe on
a read-only connection beside a running daemon. Retention (`retention.py`) may have
forgotten old delivered alerts; what is left is told as it is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from monitor.core.alerts import Alert
from monitor.core.explain import AlertRecord, Attempt, DeliveryRecord
from monitor.storage.sql import aware


def _instant(text: str | None) -> datetime | None:
    return aware(datetime.fromisoformat(text)) if text else None


def alert_history(
    conn: sqlite3.Connection, provider: str, job_ids: Sequence[str]
) -> list[AlertRecord]:
    """Every stored alert about these jobs of `provider`, oldest first, with where each
    went: its delivery rows (one per channel) and every attempt on each."""
    marks = ", ".join("?" for _ in job_ids)
    rows = conn.execute(
        f"SELECT id, created_at, routed_at, payload FROM alerts "  # noqa: S608 (placeholders)
        f"WHERE provider = ? AND job_id IN ({marks}) ORDER BY id",
        (provider, *job_ids),
    ).fetchall()
    return [
        AlertRecord(
            alert=Alert.from_json(payload),
            raised_at=aware(datetime.fromisoformat(created)),
            routed=routed is not None,
            deliveries=_deliveries(conn, alert_id),
        )
        for alert_id, created, routed, payload in rows
    ]


def _deliveries(conn: sqlite3.Connection, alert_id: int) -> tuple[DeliveryRecord, ...]:
    rows = conn.execute(
        "SELECT channel, status, sent_at, last_error FROM deliveries WHERE alert_id = ? "
        "ORDER BY channel",
        (alert_id,),
    ).fetchall()
    tries = conn.execute(
        "SELECT channel, at, outcome, error FROM attempts WHERE alert_id = ? ORDER BY id",
        (alert_id,),
    ).fetchall()
    return tuple(
        DeliveryRecord(
            channel=channel,
            status=status,
            sent_at=_instant(sent),
            last_error=error,
            attempts=tuple(
                Attempt(at=aware(datetime.fromisoformat(at)), outcome=outcome, error=err)
                for c, at, outcome, err in tries
                if c == channel
            ),
        )
        for channel, status, sent, error in rows
    )
