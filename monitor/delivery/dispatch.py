"""The dispatcher (shell): reads the outbox and delivers it, recording every attempt.

`Dispatcher.run_once` spells out the pipeline in order, like Alertmanager's notify stages:

    route → give up stale → inhibit → quiet hours → dedup → group → rate limit → send → record

This module holds the pipeline and its gates; the last stage (send and record, with its
failure isolation) is `send`, and the loop that runs passes is `loop`. It depends on
nothing but the outbox: whatever put an alert there (a poll, test-notify, the dispatcher
itself), the next pass delivers it. All state is in the store, so retries with backoff
continue across restarts; the per-channel token buckets live in memory, or in the store
where replicas share it (PostgreSQL).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from structlog.typing import FilteringBoundLogger

from monitor.core import policy, rewind
from monitor.core.deliveries import Batch, Decision, Delivery, Reason
from monitor.core.settings import Incidents, RouteConfig
from monitor.delivery.channels import Channel
from monitor.delivery.inhibit import Inhibitor
from monitor.delivery.report import DeliveryReport, about
from monitor.delivery.send import Sender
from monitor.storage.base import Store

# A crash mid-send delays a row by at most this: the claim's visibility timeout (shared
# by every replica on a PostgreSQL state; the reliability suites shorten it).
CLAIM_FOR = timedelta(minutes=5)
# The furthest ahead a row can be planned: a retry (backoff cap, or a claim) and a quiet-
# hours hold (a day at most); anything later was planned by a clock that went back.
LONGEST_RETRY = max(policy.BACKOFF_CAP, CLAIM_FOR) + timedelta(minutes=1)
LONGEST_HOLD = timedelta(hours=25)


class Dispatcher:
    """One delivery pipeline over a store's outbox and the configured channels and routes."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        routes: Sequence[RouteConfig],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        logger: FilteringBoundLogger | None = None,
        *,
        rng: Callable[[], float] = random.random,
        give_up_after: timedelta = policy.GIVE_UP_AFTER,
        bucket: policy.TokenBucket | None = None,
        label_metadata: Sequence[str] = (),
        claim_for: timedelta = CLAIM_FOR,
        incidents: Incidents | None = None,
    ) -> None:
        self._outbox = store.outbox
        self._channels = dict(channels)
        self._routes = tuple(routes)
        self.clock = clock  # the loop reads the same clock
        self.log: FilteringBoundLogger = logger or structlog.get_logger("ftmon.dispatch")
        self._sender = Sender(
            store,
            self._channels,
            self.log,
            rng=rng,
            label_metadata=label_metadata,
            claim_for=claim_for,
        )
        self._give_up_after = give_up_after
        self._buckets = {name: bucket or policy.TokenBucket() for name in self._channels}
        self._fingerprints = {n: getattr(c, "fingerprint", n) for n, c in self._channels.items()}
        self._synced = False
        self._last_now: datetime | None = None  # the previous pass's `now`
        self._inhibitor = Inhibitor(store, incidents or Incidents(), self.log)

    async def run_once(
        self,
        now: datetime | None = None,
        *,
        flush: bool = False,
        only: frozenset[int] | None = None,
    ) -> DeliveryReport:
        """One pass of the pipeline. `flush` ignores group_wait (`--once`, shutdown);
        `only` restricts the pass to those alert ids and skips quiet hours (test-notify)."""
        now = now or self.clock()
        report = DeliveryReport()
        self._sync_channels()
        self._replan_if_clock_went_back(now)
        if only is None:
            self._route(now, report)
        rows = self._outbox.due(now, only)
        rows = self._give_up(rows, now, report)
        if only is None:
            rows = self._inhibit(rows, now, report)
            rows = self._quiet_hours(rows, now, report)
        rows = self._dedup(rows)
        groups = self._group(rows, now, report, flush=flush)
        batches = self._rate_limit(groups, now, report)
        await self._sender.send(batches, now, report)
        return report

    def _replan_if_clock_went_back(self, now: datetime) -> None:
        """On the first pass, and whenever `now` is earlier than the last pass's: rows
        planned further ahead than any retry, claim or quiet-hours hold can be were planned
        by a clock that has since gone back (an NTP step, a restored VM); they would wait
        out the jump. They are planned for now, with a warning."""
        last, self._last_now = self._last_now, now
        if last is not None and now >= last - rewind.SLACK:
            return
        moved = self._outbox.replan(now, now + LONGEST_RETRY, now + LONGEST_HOLD)
        if moved:
            self.log.warning("clock_went_back", deliveries=moved, replanned_for=now.isoformat())

    def _sync_channels(self) -> None:
        """Once, on the first pass (not in the constructor, so a state file locked at
        start-up is retried like any pass): re-enable disabled channels whose URL changed."""
        if self._synced:
            return
        for name in self._outbox.sync_channels(self._fingerprints):
            self.log.info("channel_reenabled", channel=name, reason="url_changed")
        self._synced = True

    # -- the stages, in pipeline order -----------------------------------------------------

    def _route(self, now: datetime, report: DeliveryReport) -> None:
        for routed in self._outbox.route_new(self._routes, list(self._channels), now):
            if routed.channels:
                report.routed += 1
                self.log.debug(
                    "alert_routed", channels=list(routed.channels), **about(routed.alert)
                )
            else:
                report.unmatched += 1
                self.log.warning("alert_unmatched", reason=Reason.NO_ROUTE, **about(routed.alert))

    def _give_up(
        self, rows: list[Delivery], now: datetime, report: DeliveryReport
    ) -> list[Delivery]:
        after = self._give_up_after
        decided = [(d, policy.give_up_decision(d.created_at, now, after)) for d in rows]
        stale = [d for d, decision in decided if decision.go]
        if stale:
            self._outbox.give_up(stale, f"given up after {after}")
            report.given_up += len(stale)
        for d, decision in decided:
            if decision.go:
                self.log.error(
                    "delivery_given_up",
                    reason=decision.reason,
                    channel=d.channel,
                    attempts=d.attempts,
                    **about(d.alert),
                )
        return [d for d in rows if d not in stale]

    def _inhibit(
        self, rows: list[Delivery], now: datetime, report: DeliveryReport
    ) -> list[Delivery]:
        passed, inhibited, waits = self._inhibitor(rows, now)
        report.inhibited += len(inhibited)
        report.waiting += len(waits)
        for wait in waits:
            report.wake_at(wait.until)
        return passed

    def _quiet_hours(
        self,
        rows: list[Delivery],
        now: datetime,
        report: DeliveryReport,
    ) -> list[Delivery]:
        passed, held = policy.hold_for_quiet_hours(rows, self._routes, now)
        for until, group in held.items():
            self._outbox.hold(group, until)
            report.held += len(group)
            report.wake_at(until)
            self.log.info(
                "delivery_held",
                reason=Reason.QUIET_HOURS,
                alerts=len(group),
                until=until.isoformat(),
                channels=sorted({d.channel for d in group}),
            )
        return passed

    def _dedup(self, rows: list[Delivery]) -> list[Delivery]:
        """Never resend a sent (alert, channel); a disabled or unknown channel's rows wait."""
        off = self._outbox.disabled_channels()
        passed = []
        for d in rows:
            decision = policy.send_decision(str(d.status), d.channel in off)
            if decision.go and d.channel in self._channels:
                passed.append(d)
            else:
                why = decision.reason if not decision.go else "channel_not_configured"
                self.log.debug("delivery_skipped", reason=why, channel=d.channel, **about(d.alert))
        return passed

    def _group(
        self,
        rows: list[Delivery],
        now: datetime,
        report: DeliveryReport,
        *,
        flush: bool,
    ) -> list[Batch]:
        ready, waiting = policy.batches(rows, self._routes, now, flush=flush)
        for g in waiting:
            report.waiting += len(g.members)
            report.wake_at(g.decision.until)
            until = g.decision.until.isoformat() if g.decision.until else None
            self.log.debug(
                "delivery_waiting", reason=g.decision.reason, alerts=len(g.members), until=until
            )
        return ready

    def _rate_limit(
        self, batches: list[Batch], now: datetime, report: DeliveryReport
    ) -> list[Batch]:
        by_channel: dict[str, list[Batch]] = {}
        for batch in batches:
            by_channel.setdefault(batch.channel, []).append(batch)
        fitted = [
            fit
            for name, queue in by_channel.items()
            for fit in policy.within_rate(queue, self._tokens(name, now))
        ]
        out = []
        for batch in fitted:
            decision = self._take(batch.channel, now)
            if decision.go:
                out.append(batch)
            else:  # it waits in the outbox, never dropped
                report.rate_limited += len(batch.members)
                report.wake_at(decision.until)
                self.log.info(
                    "delivery_waiting",
                    reason=decision.reason,
                    channel=batch.channel,
                    alerts=len(batch.members),
                )
        return out

    def _tokens(self, name: str, now: datetime) -> float:
        """The channel's tokens: the store's shared bucket (replicas), else our own."""
        shared = self._outbox.tokens(name, self._buckets[name], now)
        return self._buckets[name].available(now) if shared is None else shared

    def _take(self, name: str, now: datetime) -> Decision:
        shared = self._outbox.take_token(name, self._buckets[name], now)
        if shared is not None:
            return shared
        self._buckets[name], decision = self._buckets[name].take(now)
        return decision
