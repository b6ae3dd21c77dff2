"""The outbox in PostgreSQL, shared by every replica (the `Outbox` of `storage.base`).

Same tables and the same delivery state diagram as `storage.outbox` (SQLite); what makes it
safe to share:

- Routing takes the unrouted alerts `FOR UPDATE SKIP LOCKED`: two replicas routing at once
  split them, and the delivery rows' primary key makes a repeat a no-op.
- A row is claimed before it is sent by moving its `next_attempt_at` forward (the
  visibility timeout, `dispatch.CLAIM_FOR`) in one statement that locks the rows it takes
  `FOR UPDATE SKIP LOCKED` and checks the value read: of two replicas only one claims a
  row; a replica that dies mid-send releases it when the claim lapses.
- `sent` is final: no statement touches a sent row again, so a channel that accepted an
  alert is never sent it again by any replica.
- Quiet hours (`held` rows), group waits (read from `created_at`), disabled channels and
  each channel's rate-limit bucket (`buckets`, spent under a row lock) are rows, so every
  replica sees the same and N replicas together keep a channel's rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from monitor.core import codec
from monitor.core.alerts import Alert
from monitor.core.deliveries import Decision, Delivery, RoutedBy
from monitor.core.deliveries import DeliveryStatus as Status
from monitor.core.policy import TokenBucket
from monitor.core.routes import delivery_targets
from monitor.core.settings import RouteConfig
from monitor.storage.base import DisabledChannel, OutboxSummary, Outcome, Routed
from monitor.storage.pg_schema import Conn, Pool, reading, transaction

# The SQLite `_DUE` rule (one job's rows reach a channel in order behind a failed one).
_DUE = """
SELECT d.alert_id, d.channel, d.status, d.attempts, d.next_attempt_at, a.created_at, a.payload,
  d.route
FROM deliveries d JOIN alerts a ON a.id = d.alert_id
WHERE d.status IN ('pending', 'held')
  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= %(now)s)
  AND d.channel NOT IN (SELECT channel FROM channels WHERE disabled_at IS NOT NULL)
  AND NOT EXISTS (
    SELECT 1 FROM deliveries e JOIN alerts b ON b.id = e.alert_id
    WHERE e.channel = d.channel AND e.alert_id < d.alert_id AND e.status = 'pending'
      AND e.next_attempt_at > %(now)s AND e.last_error IS NOT NULL
      AND b.provider = a.provider AND b.job_id = a.job_id)
ORDER BY a.id, d.channel
"""
_CLAIM = """
UPDATE deliveries SET next_attempt_at = %(until)s
WHERE (alert_id, channel) IN (
    SELECT alert_id, channel FROM deliveries
    WHERE alert_id = %(alert)s AND channel = %(channel)s AND status = %(status)s
      AND next_attempt_at IS NOT DISTINCT FROM %(seen)s
    FOR UPDATE SKIP LOCKED)
"""


def insert_alerts(conn: Conn, alerts: Sequence[Alert], now: datetime) -> list[Alert]:
    """The one INSERT of an alert; returns those not already there (unique dedup key)."""
    enqueued: list[Alert] = []
    for alert in alerts:
        cur = conn.execute(
            "INSERT INTO alerts (dedup_key, provider, job_id, kind, severity, created_at, payload) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (dedup_key) DO NOTHING",
            (
                alert.dedup_key,
                alert.provider,
                alert.job_id,
                str(alert.kind),
                str(alert.severity),
                now,
                alert.to_json(),
            ),
        )
        if cur.rowcount:
            enqueued.append(alert)
    return enqueued


class PgOutbox:
    """The shared outbox of one PostgreSQL state."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._what = "could not update the outbox"

    def route_new(
        self, routes: Sequence[RouteConfig], channels: Sequence[str], now: datetime
    ) -> list[Routed]:
        """Route every unrouted alert no other replica is routing right now."""
        out: list[Routed] = []
        with transaction(self._pool, self._what) as conn:
            rows = conn.execute(
                "SELECT id, payload FROM alerts WHERE routed_at IS NULL ORDER BY id "
                "FOR UPDATE SKIP LOCKED"
            ).fetchall()
            for alert_id, payload in rows:
                alert = Alert.from_json(payload)
                targets = delivery_targets(alert, routes, channels)
                _insert_deliveries(conn, alert_id, targets, now)
                out.append(Routed(alert_id=alert_id, alert=alert, channels=tuple(targets)))
        return out

    def route_to(self, alert_id: int, channels: Sequence[str], now: datetime) -> None:
        with transaction(self._pool, self._what) as conn:
            _insert_deliveries(conn, alert_id, dict.fromkeys(channels), now)

    def due(self, now: datetime, only: frozenset[int] | None = None) -> list[Delivery]:
        with reading(self._pool) as conn:
            rows = conn.execute(_DUE, {"now": now}).fetchall()
        return [_delivery(r) for r in rows if only is None or r[0] in only]

    def claim(self, rows: Sequence[Delivery], until: datetime) -> list[Delivery]:
        """Take `rows` until `until`; rows another replica took or changed are skipped."""
        taken = []
        with transaction(self._pool, self._what) as conn:
            for d in rows:
                args = {"until": until, "alert": d.alert_id, "channel": d.channel}
                args |= {"status": str(d.status), "seen": d.next_attempt_at}
                if conn.execute(_CLAIM, args).rowcount:
                    taken.append(d)
        return taken

    def hold(self, rows: Sequence[Delivery], until: datetime) -> None:
        self._many(
            "UPDATE deliveries SET status = 'held', next_attempt_at = %s "
            "WHERE alert_id = %s AND channel = %s AND status = 'pending'",
            [(until, d.alert_id, d.channel) for d in rows],
        )

    def record_attempt(
        self,
        alert_ids: Sequence[int],
        channel: str,
        outcome: Outcome,
        error: str | None,
        next_attempt_at: datetime | None,
        now: datetime,
    ) -> None:
        """As `SqliteOutbox.record_attempt`: a sent row is final, whoever sent it."""
        sent = now if outcome is Outcome.SENT else None
        with transaction(self._pool, self._what) as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO attempts (alert_id, channel, at, outcome, error) "
                "VALUES (%s, %s, %s, %s, %s)",
                [(i, channel, now, str(outcome), error) for i in alert_ids],
            )
            cur.executemany(
                "UPDATE deliveries SET status = coalesce(%s, status), attempts = attempts + 1, "
                "last_error = %s, next_attempt_at = %s, sent_at = %s WHERE alert_id = %s "
                "AND channel = %s AND status IN ('pending', 'held')",
                [(outcome.row_status, error, next_attempt_at, sent, i, channel) for i in alert_ids],
            )

    def defer(self, rows: Sequence[Delivery], until: datetime, error: str | None) -> None:
        self._many(
            "UPDATE deliveries SET next_attempt_at = %s, last_error = %s "
            "WHERE alert_id = %s AND channel = %s AND status IN ('pending', 'held')",
            [(until, error or "deferred", d.alert_id, d.channel) for d in rows],
        )

    def replan(self, now: datetime, pending_after: datetime, held_after: datetime) -> int:
        """As `SqliteOutbox.replan`: rows planned later than any plan allows (a clock went
        back) are planned for `now`; returns how many."""
        with transaction(self._pool, self._what) as conn:
            cur = conn.execute(
                "UPDATE deliveries SET next_attempt_at = %s WHERE "
                "(status = 'pending' AND next_attempt_at > %s) "
                "OR (status = 'held' AND next_attempt_at > %s)",
                (now, pending_after, held_after),
            )
        return cur.rowcount

    def tokens(self, channel: str, fresh: TokenBucket, now: datetime) -> float | None:
        with reading(self._pool) as conn:
            row = conn.execute(
                "SELECT tokens, updated FROM buckets WHERE channel = %s", (channel,)
            ).fetchone()
        bucket = fresh if row is None else replace(fresh, tokens=row[0], updated=row[1])
        return bucket.available(now)

    def take_token(self, channel: str, fresh: TokenBucket, now: datetime) -> Decision | None:
        """The channel's one bucket, read `FOR UPDATE`, spent and written back in one
        transaction: N replicas together stay within the channel's rate."""
        with transaction(self._pool, self._what) as conn:
            conn.execute(
                "INSERT INTO buckets (channel, tokens, updated) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (channel, fresh.tokens, fresh.updated),
            )
            row = conn.execute(
                "SELECT tokens, updated FROM buckets WHERE channel = %s FOR UPDATE", (channel,)
            ).fetchone()
            assert row is not None  # inserted above if it was missing
            bucket, decision = replace(fresh, tokens=row[0], updated=row[1]).take(now)
            conn.execute(
                "UPDATE buckets SET tokens = %s, updated = %s WHERE channel = %s",
                (bucket.tokens, bucket.updated, channel),
            )
        return decision

    def inhibit(self, rows: Sequence[Delivery], note: str) -> None:
        """Close rows a provider incident covers: never sent, `note` says why (`explain`)."""
        self._many(
            "UPDATE deliveries SET status = 'inhibited', last_error = %s "
            "WHERE alert_id = %s AND channel = %s AND status IN ('pending', 'held')",
            [(note, d.alert_id, d.channel) for d in rows],
        )

    def give_up(self, rows: Sequence[Delivery], reason: str) -> None:
        self._many(
            "UPDATE deliveries SET status = 'given_up', "
            "last_error = coalesce(last_error || '; ', '') || %s "
            "WHERE alert_id = %s AND channel = %s AND status IN ('pending', 'held')",
            [(reason, d.alert_id, d.channel) for d in rows],
        )

    def _many(self, sql: str, params: Sequence[tuple[Any, ...]]) -> None:
        with transaction(self._pool, self._what) as conn, conn.cursor() as cur:
            cur.executemany(sql.encode(), params)

    def disable_channel(self, channel: str, reason: str, now: datetime) -> None:
        self._many(
            "INSERT INTO channels (channel, disabled_at, reason) VALUES (%s, %s, %s) "
            "ON CONFLICT (channel) DO UPDATE SET disabled_at = excluded.disabled_at, "
            "reason = excluded.reason",
            [(channel, now, reason)],
        )

    def disabled_channels(self) -> dict[str, DisabledChannel]:
        with reading(self._pool) as conn:
            rows = conn.execute(
                "SELECT channel, disabled_at, reason FROM channels WHERE disabled_at IS NOT NULL"
            ).fetchall()
        return {c: DisabledChannel(channel=c, at=at, reason=r or "") for c, at, r in rows}

    def sync_channels(self, fingerprints: Mapping[str, str]) -> list[str]:
        """Remember each channel's URL fingerprint; re-enable a disabled one whose URL changed."""
        enabled: list[str] = []
        with transaction(self._pool, self._what) as conn:
            known = dict(conn.execute("SELECT channel, fingerprint FROM channels").fetchall())
            for channel, fingerprint in fingerprints.items():
                if (
                    known.get(channel) not in (None, fingerprint)
                    and conn.execute(
                        "UPDATE channels SET disabled_at = NULL, reason = NULL "
                        "WHERE channel = %s AND disabled_at IS NOT NULL",
                        (channel,),
                    ).rowcount
                ):
                    enabled.append(channel)
                conn.execute(
                    "INSERT INTO channels (channel, fingerprint) VALUES (%s, %s) "
                    "ON CONFLICT (channel) DO UPDATE SET fingerprint = excluded.fingerprint",
                    (channel, fingerprint),
                )
        return enabled

    def alert_id(self, dedup_key: str) -> int | None:
        with reading(self._pool) as conn:
            row = conn.execute("SELECT id FROM alerts WHERE dedup_key = %s", (dedup_key,))
            found = row.fetchone()
        return int(found[0]) if found else None

    def delivery_states(self, alert: int) -> dict[str, tuple[Status, str | None]]:
        with reading(self._pool) as conn:
            rows = conn.execute(
                "SELECT channel, status, last_error FROM deliveries WHERE alert_id = %s", (alert,)
            ).fetchall()
        return {c: (Status(s), err) for c, s, err in rows}

    def depth(self) -> int:
        with reading(self._pool) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending') + "
                "(SELECT count(*) FROM alerts WHERE routed_at IS NULL)"
            ).fetchone()
        return int(row[0]) if row else 0

    def pending_summary(self) -> OutboxSummary:
        by_channel: dict[str, dict[str, int]] = {}
        totals: dict[str, int] = {}
        with reading(self._pool) as conn:
            for channel, status, count in conn.execute(
                "SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status"
            ).fetchall():
                by_channel.setdefault(channel, {})[status] = count
                totals[status] = totals.get(status, 0) + count
            counts = conn.execute(
                "SELECT count(*) FILTER (WHERE routed_at IS NULL), count(*) FILTER (WHERE "
                "routed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deliveries d "
                "WHERE d.alert_id = alerts.id)) FROM alerts"
            ).fetchone()
            oldest = conn.execute(
                "SELECT min(a.created_at) FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
                "WHERE d.status IN ('pending', 'held')"
            ).fetchone()
            errors = conn.execute(
                "SELECT channel, last_error FROM deliveries WHERE last_error IS NOT NULL "
                "AND status NOT IN ('sent', 'inhibited') ORDER BY alert_id"
            ).fetchall()
        return OutboxSummary(
            by_channel=by_channel,
            totals=totals,
            unrouted=int(counts[0]) if counts else 0,
            unmatched=int(counts[1]) if counts else 0,
            oldest_pending_at=oldest[0] if oldest else None,
            last_errors=dict(errors),
            disabled=list(self.disabled_channels().values()),
        )


def _insert_deliveries(
    conn: Conn, alert_id: int, targets: Mapping[str, RoutedBy | None], now: datetime
) -> None:
    """One row per channel, with the route that sent it there (`policy.RoutedBy`)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO deliveries (alert_id, channel, status, route) "
            "VALUES (%s, %s, 'pending', %s) ON CONFLICT DO NOTHING",
            [(alert_id, c, codec.dumps(r) if r else None) for c, r in targets.items()],
        )
    conn.execute(
        "UPDATE alerts SET routed_at = %s WHERE id = %s AND routed_at IS NULL", (now, alert_id)
    )


def _delivery(row: tuple[Any, ...]) -> Delivery:
    alert_id, channel, status, attempts, next_at, created, payload, route = row
    return Delivery(
        alert_id=alert_id,
        channel=channel,
        status=Status(status),
        attempts=attempts,
        next_attempt_at=next_at,
        created_at=created,
        alert=Alert.from_json(payload),
        route=codec.loads(RoutedBy, route) if route else None,
    )
