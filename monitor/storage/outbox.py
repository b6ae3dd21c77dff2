"""The delivery SQL over the store's connection: routing, due rows, claims, attempts.

Tables (schema in `store._V1`): `alerts` is the outbox (`routed_at` NULL until routed);
`deliveries` has one row per (alert, channel) with its status; `attempts` keeps every
attempt; `channels` remembers a channel disabled by a permanent failure.

Delivery statuses:
    pending ──send ok──► sent            (never sent again: the row is final)
       │  └─transient──► pending, next_attempt_at = backoff (the channel's other rows of
       │                 that pass wait as long; one job's later rows wait behind it)
       ├──permanent────► failed          (that channel is also disabled)
       ├──quiet hours──► held, next_attempt_at = end of window ──► (digest) ──► sent …
       └──too old──────► given_up

Every write is one `BEGIN IMMEDIATE … COMMIT`. A row is claimed before it is sent by
moving its `next_attempt_at` forward (compare-and-set on the value read), so two
dispatchers on one file never send the same row at once, and a crash mid-send only
delays it until the claim lapses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from monitor.core.alerts import Alert
from monitor.core.errors import StoreError
from monitor.core.policy import Delivery, delivery_targets
from monitor.core.policy import DeliveryStatus as Status
from monitor.core.settings import RouteConfig


class Outcome(StrEnum):
    SENT, TRANSIENT, PERMANENT = "sent", "transient", "permanent"


@dataclass(frozen=True, slots=True, kw_only=True)
class Routed:
    alert_id: int
    alert: Alert
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DisabledChannel:
    channel: str
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxSummary:
    """What `ftmon status` shows of delivery."""

    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    unrouted: int = 0  # not yet looked at by a dispatcher
    unmatched: int = 0  # matched no route: kept, logged, never sent
    oldest_pending_at: datetime | None = None
    last_errors: dict[str, str] = field(default_factory=dict)
    disabled: list[DisabledChannel] = field(default_factory=list)


def ts(at: datetime) -> str:
    """One fixed-width UTC form, so timestamps compare correctly as text in SQL."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"{_file_of(conn)}: could not update the outbox: {exc}") from exc
        raise


def _file_of(conn: sqlite3.Connection) -> str:
    """The file behind a connection, for error messages (the state path names the problem)."""
    try:
        row = conn.execute("PRAGMA database_list").fetchone()
    except sqlite3.Error:
        return "state database"
    return str(row[2]) if row and row[2] else "state database"


# -- routing ------------------------------------------------------------------------------


def route_new(
    conn: sqlite3.Connection, routes: Sequence[RouteConfig], channels: Sequence[str], now: datetime
) -> list[Routed]:
    """Create delivery rows for every unrouted alert and mark it routed, in one transaction.

    An alert no route takes is marked routed with no rows (counted as unmatched); where
    a `monitor.channel_failed` alert goes is `policy.delivery_targets`'s rule.
    """
    out: list[Routed] = []
    with _write(conn):
        rows = conn.execute("SELECT id, payload FROM alerts WHERE routed_at IS NULL ORDER BY id")
        for alert_id, payload in rows.fetchall():
            alert = Alert.from_json(payload)
            targets = delivery_targets(alert, routes, channels)
            _insert_deliveries(conn, alert_id, targets, now)
            out.append(Routed(alert_id=alert_id, alert=alert, channels=targets))
    return out


def route_to(
    conn: sqlite3.Connection, alert_id: int, channels: Sequence[str], now: datetime
) -> None:
    """Route one alert to named channels, bypassing the routes (test-notify)."""
    with _write(conn):
        _insert_deliveries(conn, alert_id, channels, now)


def _insert_deliveries(
    conn: sqlite3.Connection, alert_id: int, channels: Sequence[str], now: datetime
) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO deliveries (alert_id, channel, status) VALUES (?, ?, 'pending')",
        [(alert_id, c) for c in channels],
    )
    conn.execute(
        "UPDATE alerts SET routed_at = ? WHERE id = ? AND routed_at IS NULL", (ts(now), alert_id)
    )


# -- reading what is due and claiming it ---------------------------------------------------

# A row waits while an earlier alert about the same job waits for a retry on the same
# channel (it failed, or was put back when the channel failed: `last_error` is set), so
# one job's alerts reach a channel in the order they were raised, whatever the retry
# jitter drew. A mere claim does not hold later rows back (after a crash mid-send the
# interrupted message waits out its claim; later ones may pass it), nor does a held row
# (quiet hours): a failure goes through quiet hours.
_DUE = """
SELECT d.alert_id, d.channel, d.status, d.attempts, d.next_attempt_at, a.created_at, a.payload
FROM deliveries d JOIN alerts a ON a.id = d.alert_id
WHERE d.status IN ('pending', 'held')
  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= :now)
  AND d.channel NOT IN (SELECT channel FROM channels WHERE disabled_at IS NOT NULL)
  AND NOT EXISTS (
    SELECT 1 FROM deliveries e JOIN alerts b ON b.id = e.alert_id
    WHERE e.channel = d.channel AND e.alert_id < d.alert_id AND e.status = 'pending'
      AND e.next_attempt_at > :now AND e.last_error IS NOT NULL
      AND b.provider = a.provider AND b.job_id = a.job_id)
ORDER BY a.id, d.channel
"""


def due(
    conn: sqlite3.Connection, now: datetime, only: frozenset[int] | None = None
) -> list[Delivery]:
    """Deliveries to look at now: pending or held, their time come, channel not disabled."""
    out = []
    for row in conn.execute(_DUE, {"now": ts(now)}).fetchall():
        if only is None or row[0] in only:
            out.append(_delivery(row))
    return out


def _delivery(row: tuple[int, str, str, int, str | None, str, str]) -> Delivery:
    alert_id, channel, status, attempts, next_at, created, payload = row
    return Delivery(
        alert_id=alert_id,
        channel=channel,
        status=Status(status),
        attempts=attempts,
        next_attempt_at=datetime.fromisoformat(next_at) if next_at else None,
        created_at=_aware(datetime.fromisoformat(created)),
        alert=Alert.from_json(payload),
    )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def claim(conn: sqlite3.Connection, rows: Sequence[Delivery], until: datetime) -> list[Delivery]:
    """Take `rows` for sending until `until`; rows changed meanwhile by another are skipped."""
    taken = []
    with _write(conn):
        for d in rows:
            seen = ts(d.next_attempt_at) if d.next_attempt_at else None
            cur = conn.execute(
                "UPDATE deliveries SET next_attempt_at = ? WHERE alert_id = ? AND channel = ? "
                "AND status = ? AND next_attempt_at IS ?",
                (ts(until), d.alert_id, d.channel, str(d.status), seen),
            )
            if cur.rowcount:
                taken.append(d)
    return taken


# -- recording -------------------------------------------------------------------------------


def hold(conn: sqlite3.Connection, rows: Sequence[Delivery], until: datetime) -> None:
    """Quiet hours: keep `rows` until the window ends; they then go out as one digest."""
    with _write(conn):
        conn.executemany(
            "UPDATE deliveries SET status = 'held', next_attempt_at = ? "
            "WHERE alert_id = ? AND channel = ? AND status = 'pending'",
            [(ts(until), d.alert_id, d.channel) for d in rows],
        )


def record_attempt(
    conn: sqlite3.Connection,
    alert_ids: Sequence[int],
    channel: str,
    outcome: Outcome,
    error: str | None,
    next_attempt_at: datetime | None,
    now: datetime,
) -> None:
    """One attempt at one message to `channel` carrying `alert_ids`.

    `sent` is recorded only after the channel accepted the message, and a sent row is
    final: no later write touches it. A transient failure keeps the row's status (a held
    row stays part of its digest) and sets when to try again.
    """
    status = {Outcome.SENT: "sent", Outcome.TRANSIENT: None, Outcome.PERMANENT: "failed"}
    retry = ts(next_attempt_at) if next_attempt_at else None
    sent = ts(now) if outcome is Outcome.SENT else None
    with _write(conn):
        conn.executemany(
            "INSERT INTO attempts (alert_id, channel, at, outcome, error) VALUES (?, ?, ?, ?, ?)",
            [(i, channel, ts(now), str(outcome), error) for i in alert_ids],
        )
        conn.executemany(
            "UPDATE deliveries SET status = coalesce(?, status), attempts = attempts + 1, "
            "last_error = ?, next_attempt_at = ?, sent_at = ? "
            "WHERE alert_id = ? AND channel = ? AND status IN ('pending', 'held')",
            [(status[outcome], error, retry, sent, i, channel) for i in alert_ids],
        )


def defer(
    conn: sqlite3.Connection, rows: Sequence[Delivery], until: datetime, error: str | None
) -> None:
    """Put claimed rows back, untried, to be tried at `until`: their channel just failed
    with `error` (kept as theirs, so later rows of their jobs wait behind them)."""
    with _write(conn):
        conn.executemany(
            "UPDATE deliveries SET next_attempt_at = ?, last_error = ? "
            "WHERE alert_id = ? AND channel = ? AND status IN ('pending', 'held')",
            [(ts(until), error or "deferred", d.alert_id, d.channel) for d in rows],
        )


def give_up(conn: sqlite3.Connection, rows: Sequence[Delivery], reason: str) -> None:
    with _write(conn):
        conn.executemany(
            "UPDATE deliveries SET status = 'given_up', last_error = coalesce(last_error || "
            "'; ', '') || ? WHERE alert_id = ? AND channel = ? AND status IN ('pending', 'held')",
            [(reason, d.alert_id, d.channel) for d in rows],
        )


# -- channels ----------------------------------------------------------------------------------


def disable_channel(conn: sqlite3.Connection, channel: str, reason: str, now: datetime) -> None:
    with _write(conn):
        conn.execute(
            "INSERT INTO channels (channel, disabled_at, reason) VALUES (?, ?, ?) "
            "ON CONFLICT (channel) DO UPDATE SET disabled_at = excluded.disabled_at, "
            "reason = excluded.reason",
            (channel, ts(now), reason),
        )


def disabled_channels(conn: sqlite3.Connection) -> dict[str, DisabledChannel]:
    rows = conn.execute(
        "SELECT channel, disabled_at, reason FROM channels WHERE disabled_at IS NOT NULL"
    )
    return {
        c: DisabledChannel(channel=c, at=datetime.fromisoformat(at), reason=reason or "")
        for c, at, reason in rows.fetchall()
    }


def sync_channels(conn: sqlite3.Connection, fingerprints: Mapping[str, str]) -> list[str]:
    """Remember each channel's URL fingerprint; re-enable a disabled one whose URL changed."""
    enabled: list[str] = []
    with _write(conn):
        known = dict(conn.execute("SELECT channel, fingerprint FROM channels").fetchall())
        for channel, fingerprint in fingerprints.items():
            if known.get(channel) not in (None, fingerprint):
                cur = conn.execute(
                    "UPDATE channels SET disabled_at = NULL, reason = NULL "
                    "WHERE channel = ? AND disabled_at IS NOT NULL",
                    (channel,),
                )
                if cur.rowcount:
                    enabled.append(channel)
            conn.execute(
                "INSERT INTO channels (channel, fingerprint) VALUES (?, ?) ON CONFLICT (channel) "
                "DO UPDATE SET fingerprint = excluded.fingerprint",
                (channel, fingerprint),
            )
    return enabled


# -- reports -------------------------------------------------------------------------------------


def alert_id(conn: sqlite3.Connection, dedup_key: str) -> int | None:
    row = conn.execute("SELECT id FROM alerts WHERE dedup_key = ?", (dedup_key,)).fetchone()
    return int(row[0]) if row else None


def delivery_states(conn: sqlite3.Connection, alert: int) -> dict[str, tuple[Status, str | None]]:
    rows = conn.execute(
        "SELECT channel, status, last_error FROM deliveries WHERE alert_id = ?", (alert,)
    )
    return {c: (Status(s), err) for c, s, err in rows.fetchall()}


def pending_summary(conn: sqlite3.Connection) -> OutboxSummary:
    """Counts by channel and status, unrouted and unmatched alerts, disabled channels."""
    by_channel: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for channel, status, count in conn.execute(
        "SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status"
    ).fetchall():
        by_channel.setdefault(channel, {})[status] = count
        totals[status] = totals.get(status, 0) + count
    unrouted, unmatched = conn.execute(
        "SELECT sum(routed_at IS NULL), sum(routed_at IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM deliveries d WHERE d.alert_id = alerts.id)) FROM alerts"
    ).fetchone()
    oldest = conn.execute(
        "SELECT min(a.created_at) FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
        "WHERE d.status IN ('pending', 'held')"
    ).fetchone()[0]
    errors = conn.execute(
        "SELECT channel, last_error FROM deliveries WHERE last_error IS NOT NULL "
        "AND status != 'sent' ORDER BY alert_id"
    ).fetchall()
    return OutboxSummary(
        by_channel=by_channel,
        totals=totals,
        unrouted=int(unrouted or 0),
        unmatched=int(unmatched or 0),
        oldest_pending_at=_aware(datetime.fromisoformat(oldest)) if oldest else None,
        last_errors=dict(errors),
        disabled=list(disabled_channels(conn).values()),
    )
