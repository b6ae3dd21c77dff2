"""The delivery SQL over the store's connection: routing, due rows, claims, attempts.

Tables (schema in `sqlite_file._V1`): `alerts` is the outbox (`routed_at` NULL until routed);
`deliveries` has one row per (alert, channel) with its status and the route that sent it
there (its grouping and quiet hours keep applying after a reload); `attempts` keeps every
attempt; `channels` remembers a channel disabled by a permanent failure.

Delivery statuses:
    pending ──send ok──► sent            (never sent again: the row is final)
       │  └─transient──► pending, next_attempt_at = backoff (the channel's other rows of
       │                 that pass wait as long; one job's later rows wait behind it)
       ├──permanent────► failed          (that channel is also disabled)
       ├──quiet hours──► held, next_attempt_at = end of window ──► (digest) ──► sent …
       ├──covered by a provider incident──► inhibited (final; never sent, still shown)
       └──too old──────► given_up

Every write is one `BEGIN IMMEDIATE … COMMIT`. A row is claimed before it is sent by
moving its `next_attempt_at` forward (compare-and-set on the value read), so two
dispatchers on one file never send the same row at once, and a crash mid-send only
delays it until the claim lapses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime

from monitor.core import codec
from monitor.core.alerts import Alert
from monitor.core.deliveries import Decision, Delivery, RoutedBy
from monitor.core.deliveries import DeliveryStatus as Status
from monitor.core.policy import TokenBucket
from monitor.core.routes import delivery_targets
from monitor.core.settings import RouteConfig
from monitor.storage.base import DisabledChannel, OutboxSummary, Outcome, Routed
from monitor.storage.sql import aware as _aware
from monitor.storage.sql import transaction, ts

# A row waits while an earlier alert about the same job waits for a retry on the same
# channel (it failed, or was put back when the channel failed: `last_error` is set), so
# one job's alerts reach a channel in the order they were raised, whatever the retry
# jitter drew. A mere claim does not hold later rows back (after a crash mid-send the
# interrupted message waits out its claim; later ones may pass it), nor does a held row
# (quiet hours): a failure goes through quiet hours.
_DUE = """
SELECT d.alert_id, d.channel, d.status, d.attempts, d.next_attempt_at, a.created_at, a.payload,
  d.route
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


class SqliteOutbox:
    """The outbox of one SQLite state file (the `Outbox` of `storage.base`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._what = "could not update the outbox"

    # -- routing ---------------------------------------------------------------------

    def route_new(
        self, routes: Sequence[RouteConfig], channels: Sequence[str], now: datetime
    ) -> list[Routed]:
        """Create delivery rows for every unrouted alert and mark it routed, in one transaction.

        An alert no route takes is marked routed with no rows (counted as unmatched); where
        a `monitor.channel_failed` alert goes is `policy.delivery_targets`'s rule.
        """
        out: list[Routed] = []
        with transaction(self._conn, self._what):
            rows = self._conn.execute(
                "SELECT id, payload FROM alerts WHERE routed_at IS NULL ORDER BY id"
            )
            for alert_id, payload in rows.fetchall():
                alert = Alert.from_json(payload)
                targets = delivery_targets(alert, routes, channels)
                self._insert_deliveries(alert_id, targets, now)
                out.append(Routed(alert_id=alert_id, alert=alert, channels=tuple(targets)))
        return out

    def route_to(self, alert_id: int, channels: Sequence[str], now: datetime) -> None:
        """Route one alert to named channels, bypassing the routes (test-notify)."""
        with transaction(self._conn, self._what):
            self._insert_deliveries(alert_id, dict.fromkeys(channels), now)

    def _insert_deliveries(
        self, alert_id: int, targets: Mapping[str, RoutedBy | None], now: datetime
    ) -> None:
        self._conn.executemany(
            "INSERT OR IGNORE INTO deliveries (alert_id, channel, status, route) "
            "VALUES (?, ?, 'pending', ?)",
            [(alert_id, c, codec.dumps(r) if r else None) for c, r in targets.items()],
        )
        self._conn.execute(
            "UPDATE alerts SET routed_at = ? WHERE id = ? AND routed_at IS NULL",
            (ts(now), alert_id),
        )

    # -- reading what is due and claiming it ---------------------------------------------------

    def due(self, now: datetime, only: frozenset[int] | None = None) -> list[Delivery]:
        """Deliveries to look at now: pending or held, their time come, channel not disabled."""
        out = []
        for row in self._conn.execute(_DUE, {"now": ts(now)}).fetchall():
            if only is None or row[0] in only:
                out.append(_delivery(row))
        return out

    def claim(self, rows: Sequence[Delivery], until: datetime) -> list[Delivery]:
        """Take `rows` for sending until `until`; rows changed meanwhile by another are skipped."""
        taken = []
        with transaction(self._conn, self._what):
            for d in rows:
                seen = ts(d.next_attempt_at) if d.next_attempt_at else None
                cur = self._conn.execute(
                    "UPDATE deliveries SET next_attempt_at = ? WHERE alert_id = ? AND channel = ? "
                    "AND status = ? AND next_attempt_at IS ?",
                    (ts(until), d.alert_id, d.channel, str(d.status), seen),
                )
                if cur.rowcount:
                    taken.append(d)
        return taken

    # -- recording -------------------------------------------------------------------

    def hold(self, rows: Sequence[Delivery], until: datetime) -> None:
        """Quiet hours: keep `rows` until the window ends; they then go out as one digest."""
        with transaction(self._conn, self._what):
            self._conn.executemany(
                "UPDATE deliveries SET status = 'held', next_attempt_at = ? "
                "WHERE alert_id = ? AND channel = ? AND status = 'pending'",
                [(ts(until), d.alert_id, d.channel) for d in rows],
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
        """One attempt at one message to `channel` carrying `alert_ids`.

        `sent` is recorded only after the channel accepted the message, and a sent row is
        final: no later write touches it. A transient failure keeps the row's status (a held
        row stays part of its digest) and sets when to try again.
        """
        retry = ts(next_attempt_at) if next_attempt_at else None
        sent = ts(now) if outcome is Outcome.SENT else None
        with transaction(self._conn, self._what):
            self._conn.executemany(
                "INSERT INTO attempts (alert_id, channel, at, outcome, error) "
                "VALUES (?, ?, ?, ?, ?)",
                [(i, channel, ts(now), str(outcome), error) for i in alert_ids],
            )
            self._conn.executemany(
                "UPDATE deliveries SET status = coalesce(?, status), attempts = attempts + 1, "
                "last_error = ?, next_attempt_at = ?, sent_at = ? "
                "WHERE alert_id = ? AND channel = ? AND status IN ('pending', 'held')",
                [(outcome.row_status, error, retry, sent, i, channel) for i in alert_ids],
            )

    def defer(self, rows: Sequence[Delivery], until: datetime, error: str | None) -> None:
        """Put claimed rows back, untried, to be tried at `until`: their channel just failed
        with `error` (kept as theirs, so later rows of their jobs wait behind them)."""
        with transaction(self._conn, self._what):
            self._conn.executemany(
                "UPDATE deliveries SET next_attempt_at = ?, last_error = ? "
                "WHERE alert_id = ? AND channel = ? AND status IN ('pending', 'held')",
                [(ts(until), error or "deferred", d.alert_id, d.channel) for d in rows],
            )

    def replan(self, now: datetime, pending_after: datetime, held_after: datetime) -> int:
        """Rows planned later than any plan of ftmon's allows (pending past
        `pending_after`, held past `held_after`): the clock went back since they were
        planned. They are planned for `now` instead; returns how many."""
        with transaction(self._conn, self._what):
            cur = self._conn.execute(
                "UPDATE deliveries SET next_attempt_at = ? WHERE "
                "(status = 'pending' AND next_attempt_at > ?) "
                "OR (status = 'held' AND next_attempt_at > ?)",
                (ts(now), ts(pending_after), ts(held_after)),
            )
        return cur.rowcount

    def tokens(self, channel: str, fresh: TokenBucket, now: datetime) -> float | None:
        return None  # one process: the dispatcher's own bucket

    def take_token(self, channel: str, fresh: TokenBucket, now: datetime) -> Decision | None:
        return None

    def inhibit(self, rows: Sequence[Delivery], note: str) -> None:
        """Close rows a provider incident covers: never sent, `note` says why (`explain`)."""
        with transaction(self._conn, self._what):
            self._conn.executemany(
                "UPDATE deliveries SET status = 'inhibited', last_error = ? "
                "WHERE alert_id = ? AND channel = ? AND status IN ('pending', 'held')",
                [(note, d.alert_id, d.channel) for d in rows],
            )

    def give_up(self, rows: Sequence[Delivery], reason: str) -> None:
        with transaction(self._conn, self._what):
            self._conn.executemany(
                "UPDATE deliveries SET status = 'given_up', last_error = coalesce(last_error || "
                "'; ', '') || ? "
                "WHERE alert_id = ? AND channel = ? AND status IN ('pending', 'held')",
                [(reason, d.alert_id, d.channel) for d in rows],
            )

    # -- channels --------------------------------------------------------------------

    def disable_channel(self, channel: str, reason: str, now: datetime) -> None:
        with transaction(self._conn, self._what):
            self._conn.execute(
                "INSERT INTO channels (channel, disabled_at, reason) VALUES (?, ?, ?) "
                "ON CONFLICT (channel) DO UPDATE SET disabled_at = excluded.disabled_at, "
                "reason = excluded.reason",
                (channel, ts(now), reason),
            )

    def disabled_channels(self) -> dict[str, DisabledChannel]:
        rows = self._conn.execute(
            "SELECT channel, disabled_at, reason FROM channels WHERE disabled_at IS NOT NULL"
        )
        return {
            c: DisabledChannel(channel=c, at=datetime.fromisoformat(at), reason=reason or "")
            for c, at, reason in rows.fetchall()
        }

    def sync_channels(self, fingerprints: Mapping[str, str]) -> list[str]:
        """Remember each channel's URL fingerprint; re-enable a disabled one whose URL changed."""
        enabled: list[str] = []
        with transaction(self._conn, self._what):
            known = dict(self._conn.execute("SELECT channel, fingerprint FROM channels").fetchall())
            for channel, fingerprint in fingerprints.items():
                if known.get(channel) not in (None, fingerprint):
                    cur = self._conn.execute(
                        "UPDATE channels SET disabled_at = NULL, reason = NULL "
                        "WHERE channel = ? AND disabled_at IS NOT NULL",
                        (channel,),
                    )
                    if cur.rowcount:
                        enabled.append(channel)
                self._conn.execute(
                    "INSERT INTO channels (channel, fingerprint) VALUES (?, ?) "
                    "ON CONFLICT (channel) DO UPDATE SET fingerprint = excluded.fingerprint",
                    (channel, fingerprint),
                )
        return enabled

    # -- reports ---------------------------------------------------------------------

    def alert_id(self, dedup_key: str) -> int | None:
        row = self._conn.execute(
            "SELECT id FROM alerts WHERE dedup_key = ?", (dedup_key,)
        ).fetchone()
        return int(row[0]) if row else None

    def delivery_states(self, alert: int) -> dict[str, tuple[Status, str | None]]:
        rows = self._conn.execute(
            "SELECT channel, status, last_error FROM deliveries WHERE alert_id = ?", (alert,)
        )
        return {c: (Status(s), err) for c, s, err in rows.fetchall()}

    def depth(self) -> int:
        pending = self._conn.execute(
            "SELECT count(*) FROM deliveries WHERE status = 'pending'"
        ).fetchone()[0]
        unrouted = self._conn.execute(
            "SELECT count(*) FROM alerts WHERE routed_at IS NULL"
        ).fetchone()[0]
        return int(pending) + int(unrouted)

    def pending_summary(self) -> OutboxSummary:
        """Counts by channel and status, unrouted and unmatched alerts, disabled channels."""
        by_channel: dict[str, dict[str, int]] = {}
        totals: dict[str, int] = {}
        for channel, status, count in self._conn.execute(
            "SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status"
        ).fetchall():
            by_channel.setdefault(channel, {})[status] = count
            totals[status] = totals.get(status, 0) + count
        unrouted, unmatched = self._conn.execute(
            "SELECT sum(routed_at IS NULL), sum(routed_at IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM deliveries d WHERE d.alert_id = alerts.id)) FROM alerts"
        ).fetchone()
        oldest = self._conn.execute(
            "SELECT min(a.created_at) FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
            "WHERE d.status IN ('pending', 'held')"
        ).fetchone()[0]
        errors = self._conn.execute(
            "SELECT channel, last_error FROM deliveries WHERE last_error IS NOT NULL "
            "AND status NOT IN ('sent', 'inhibited') ORDER BY alert_id"
        ).fetchall()
        return OutboxSummary(
            by_channel=by_channel,
            totals=totals,
            unrouted=int(unrouted or 0),
            unmatched=int(unmatched or 0),
            oldest_pending_at=_aware(datetime.fromisoformat(oldest)) if oldest else None,
            last_errors=dict(errors),
            disabled=list(self.disabled_channels().values()),
        )


def _delivery(row: tuple[int, str, str, int, str | None, str, str, str | None]) -> Delivery:
    alert_id, channel, status, attempts, next_at, created, payload, route = row
    return Delivery(
        alert_id=alert_id,
        channel=channel,
        status=Status(status),
        attempts=attempts,
        next_attempt_at=datetime.fromisoformat(next_at) if next_at else None,
        created_at=_aware(datetime.fromisoformat(created)),
        alert=Alert.from_json(payload),
        route=codec.loads(RoutedBy, route) if route else None,
    )
