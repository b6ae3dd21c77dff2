"""The dispatcher (shell): reads the outbox and delivers it, recording every attempt.

`Dispatcher.run_once` spells out the pipeline in order, like Alertmanager's notify stages:

    route → give up stale → quiet hours → dedup → group → rate limit → send → record

It depends on nothing but the outbox: whatever put an alert there (a poll, test-notify,
the dispatcher itself), the next pass delivers it. All state is in SQLite, so retries
with backoff continue across restarts; the per-channel token buckets live in memory, or in
the store where replicas share it (PostgreSQL).

Failures are isolated: a channel-wide one (refused, timed out, 5xx, 429) defers the rest
of that channel's pass to the same retry time, in order; a message that fails on its own
content (a plugin that raised on it, a 413, a rendering bug) is retried alone while the
channel's other messages go, and is given up loudly after `MESSAGE_ATTEMPTS`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
import structlog
from structlog.typing import FilteringBoundLogger

from monitor.core import policy, rewind
from monitor.core.alerts import KIND_HINTS, Alert, Kind, Severity
from monitor.core.deliveries import Batch, Decision, Delivery, Reason
from monitor.core.errors import StoreError
from monitor.core.redact import REDACTOR
from monitor.core.render import Message, render
from monitor.core.settings import RouteConfig
from monitor.delivery.channels import Channel, SendResult
from monitor.storage.base import Outcome, Store

# A crash mid-send delays a row by at most this: the claim's visibility timeout (shared
# by every replica on a PostgreSQL state; the reliability suites shorten it).
CLAIM_FOR = timedelta(minutes=5)
MESSAGE_ATTEMPTS = 5  # a message failing on its own content is given up after this many
# The furthest ahead a row can be planned: a retry (backoff cap, or a claim) and a quiet-
# hours hold (a day at most); anything later was planned by a clock that went back.
LONGEST_RETRY = max(policy.BACKOFF_CAP, CLAIM_FOR) + timedelta(minutes=1)
LONGEST_HOLD = timedelta(hours=25)


@dataclass(slots=True)
class DeliveryReport:
    """What one pass did; `next_due` is when something waiting may become sendable."""

    routed: int = 0
    unmatched: int = 0
    held: int = 0
    waiting: int = 0
    rate_limited: int = 0
    messages: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    given_up: int = 0
    disabled: list[str] = field(default_factory=list)
    next_due: datetime | None = None

    def wake_at(self, at: datetime | None) -> None:
        if at is not None and (self.next_due is None or at < self.next_due):
            self.next_due = at


class Dispatcher:
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
    ) -> None:
        self._store = store
        self._label_metadata = tuple(label_metadata)
        self._claim_for = claim_for
        self._outbox = store.outbox
        self._channels = dict(channels)
        self._routes = tuple(routes)
        self._clock = clock
        self._log: FilteringBoundLogger = logger or structlog.get_logger("ftmon.dispatch")
        self._rng = rng
        self._give_up_after = give_up_after
        self._buckets = {name: bucket or policy.TokenBucket() for name in self._channels}
        self._fingerprints = {n: getattr(c, "fingerprint", n) for n, c in self._channels.items()}
        self._synced = False
        self._last_now: datetime | None = None  # the previous pass's `now`

    async def run_once(
        self,
        now: datetime | None = None,
        *,
        flush: bool = False,
        only: frozenset[int] | None = None,
    ) -> DeliveryReport:
        """One pass of the pipeline. `flush` ignores group_wait (`--once`, shutdown);
        `only` restricts the pass to those alert ids and skips quiet hours (test-notify)."""
        now = now or self._clock()
        report = DeliveryReport()
        self._sync_channels()
        self._replan_if_clock_went_back(now)
        if only is None:
            self._route(now, report)
        rows = self._outbox.due(now, only)
        rows = self._give_up(rows, now, report)
        if only is None:
            rows = self._quiet_hours(rows, now, report)
        rows = self._dedup(rows)
        groups = self._group(rows, now, report, flush=flush)
        batches = self._rate_limit(groups, now, report)
        await self._send_and_record(batches, now, report)
        return report

    async def run_forever(
        self,
        stop: anyio.Event,
        *,
        interval: float = 1.0,
        doorbell: Doorbell | None = None,
        after_pass: Callable[[DeliveryReport], None] | None = None,
        paused: Callable[[], bool] = lambda: False,
    ) -> None:
        """The one delivery loop (the daemon's): a pass, then wait until the next row is due,
        `interval` seconds at most, or until the doorbell rings (a poll just enqueued), and
        again until `stop` is set. A pass that fails is logged and the loop goes on; while
        `paused()` (the state database is lost) no pass is made."""
        bell = doorbell or Doorbell()
        while not stop.is_set():
            delay = interval
            if paused():
                await bell.wait(delay)
                continue
            try:
                report = await self.run_once()
                if after_pass is not None:
                    after_pass(report)
                if report.next_due is not None:
                    ahead = (report.next_due - self._clock()).total_seconds()
                    delay = min(interval, max(0.0, ahead))
            except StoreError as exc:  # locked, full or damaged: nothing recorded, try again
                self._log.error("dispatch_not_recorded", error=str(exc))
            except Exception:  # the boundary: log, keep delivering
                self._log.exception("dispatch_failed")
            await bell.wait(delay)

    async def drain(self, seconds: float) -> DeliveryReport:
        """Deliver what can go within `seconds`, ignoring group_wait (`--once`, shutdown)."""
        total = DeliveryReport()
        start = self._clock()
        deadline = start + timedelta(seconds=seconds)
        with anyio.move_on_after(seconds):
            while True:
                report = await self.run_once(flush=True)
                _add(total, report)
                if report.next_due is None or report.next_due > deadline:
                    break
                wait = (report.next_due - self._clock()).total_seconds()
                if wait > 0 and self._clock() == start:
                    break  # a clock that stands still (virtual time) never brings it due
                await anyio.sleep(max(0.0, wait))
        return total

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
            self._log.warning("clock_went_back", deliveries=moved, replanned_for=now.isoformat())

    def _sync_channels(self) -> None:
        """Once, on the first pass (not in the constructor, so a state file locked at
        start-up is retried like any pass): re-enable disabled channels whose URL changed."""
        if self._synced:
            return
        for name in self._outbox.sync_channels(self._fingerprints):
            self._log.info("channel_reenabled", channel=name, reason="url_changed")
        self._synced = True

    # -- the stages, in pipeline order -----------------------------------------------------

    def _route(self, now: datetime, report: DeliveryReport) -> None:
        for routed in self._outbox.route_new(self._routes, list(self._channels), now):
            if routed.channels:
                report.routed += 1
                self._log.debug(
                    "alert_routed", channels=list(routed.channels), **_about(routed.alert)
                )
            else:
                report.unmatched += 1
                self._log.warning("alert_unmatched", reason=Reason.NO_ROUTE, **_about(routed.alert))

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
                self._log.error(
                    "delivery_given_up",
                    reason=decision.reason,
                    channel=d.channel,
                    attempts=d.attempts,
                    **_about(d.alert),
                )
        return [d for d in rows if d not in stale]

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
            self._log.info(
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
                self._log.debug(
                    "delivery_skipped", reason=why, channel=d.channel, **_about(d.alert)
                )
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
            self._log.debug(
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
                self._log.info(
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

    async def _send_and_record(
        self, batches: list[Batch], now: datetime, report: DeliveryReport
    ) -> None:
        by_channel: dict[str, list[Batch]] = {}
        for batch in batches:
            claimed = self._outbox.claim(batch.members, now + self._claim_for)
            if claimed:
                by_channel.setdefault(batch.channel, []).append(
                    Batch(batch.channel, tuple(claimed), batch.note)
                )
        async with anyio.create_task_group() as tg:  # channels in parallel, each in order
            for name, queue in by_channel.items():
                tg.start_soon(self._send_channel, name, queue, now, report)

    async def _send_channel(
        self, name: str, queue: list[Batch], now: datetime, report: DeliveryReport
    ) -> None:
        channel = self._channels[name]
        messages = self._render(name, channel, queue, now, report)
        for n, (members, message) in enumerate(messages):
            if name in report.disabled:
                break  # the claims lapse; the rows wait for the channel to be fixed
            try:
                result = await channel.send(message)
            except Exception as exc:  # the boundary: a channel bug is this message's failure
                self._log.exception("channel_send_crashed", channel=name)
                error = REDACTOR(f"crashed: {exc!r}")  # it is stored and shown
                result = SendResult(ok=False, retryable=True, error=error, message_only=True)
            retry_at = self._record(name, members, result, now, report)
            if retry_at is not None and not result.message_only:  # the channel is failing:
                # the rest waits as long, in order (a message failing on its own content
                # is retried alone and holds no one else)
                rest = [d for later, _ in messages[n + 1 :] for d in later]
                self._outbox.defer(rest, retry_at, result.error)
                break

    def _render(
        self, name: str, channel: Channel, queue: list[Batch], now: datetime, report: DeliveryReport
    ) -> list[tuple[tuple[Delivery, ...], Message]]:
        """Each batch as the channel's messages; a batch that cannot be rendered fails on
        its own (a message-only failure) and the others go."""
        out = []
        for batch in queue:
            try:
                out += _messages(batch, channel, self._label_metadata)
            except Exception:  # the boundary: one alert's content must not stop the others
                self._log.exception("render_failed", channel=name)
                failed = SendResult(
                    ok=False, retryable=True, error="could not be rendered", message_only=True
                )
                self._record(name, batch.members, failed, now, report)
        return out

    def _record(
        self,
        name: str,
        members: Sequence[Delivery],
        result: SendResult,
        now: datetime,
        report: DeliveryReport,
    ) -> datetime | None:
        """Record one send's outcome; the retry time when it failed transiently."""
        ids = [d.alert_id for d in members]
        kinds = sorted({str(d.alert.kind) for d in members})
        if result.ok:
            self._outbox.record_attempt(ids, name, Outcome.SENT, None, None, now)
            report.messages += 1
            report.delivered += len(ids)
            self._log.info("delivery_sent", channel=name, alerts=len(ids), kinds=kinds)
            return None
        if result.retryable:
            attempts = max(d.attempts for d in members) + 1
            retry_at = policy.next_attempt(attempts, now, self._rng())
            self._outbox.record_attempt(ids, name, Outcome.TRANSIENT, result.error, retry_at, now)
            if result.message_only and attempts >= MESSAGE_ATTEMPTS:
                self._reject(name, members, attempts, result.error, report)
                return retry_at
            report.retrying += len(ids)
            report.wake_at(retry_at)
            self._log.warning(
                "delivery_failed",
                channel=name,
                alerts=len(ids),
                retryable=True,
                error=result.error,
                next_attempt_at=retry_at.isoformat(),
            )
            return retry_at
        self._outbox.record_attempt(ids, name, Outcome.PERMANENT, result.error, None, now)
        report.failed += len(ids)
        self._disable(name, result.error or "permanent failure", now, report)
        return None

    def _reject(
        self,
        name: str,
        members: Sequence[Delivery],
        attempts: int,
        error: str | None,
        report: DeliveryReport,
    ) -> None:
        """A message that failed on its own content `attempts` times: given up, loudly,
        so it stops taking attempts (the channel and its other messages are fine)."""
        self._outbox.give_up(members, f"rejected {attempts} times: {error}")
        report.given_up += len(members)
        for d in members:
            self._log.error(
                "delivery_given_up",
                reason="message_rejected",
                channel=name,
                attempts=attempts,
                error=error,
                **_about(d.alert),
            )

    def _disable(self, name: str, error: str, now: datetime, report: DeliveryReport) -> None:
        """A permanent failure: stop using the channel and tell people on the others."""
        self._outbox.disable_channel(name, error, now)
        report.disabled.append(name)
        self._log.error("channel_disabled", channel=name, error=error)
        self._store.enqueue([channel_failed_alert(name, error, now, self._channels[name])], now)
        report.wake_at(now)


class Doorbell:
    """Wakes the delivery loop before its interval is up: a poll rings it after it enqueued
    alerts, so they go out at once."""

    def __init__(self) -> None:
        self._rung = anyio.Event()

    def ring(self) -> None:
        self._rung.set()

    async def wait(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await self._rung.wait()
        self._rung = anyio.Event()


def _messages(
    batch: Batch, channel: Channel, label_metadata: Sequence[str]
) -> list[tuple[tuple[Delivery, ...], Message]]:
    """Render a batch for the channel; a group too big for the service is split in halves."""
    alerts = [d.alert for d in batch.members]
    message = render(
        alerts,
        channel.fmt,
        channel.body_limit,
        channel.title_limit,
        note=batch.note,
        label_metadata=label_metadata,
    )
    if message.fits or len(batch.members) == 1:
        return [(batch.members, message)]
    half = len(batch.members) // 2
    first = Batch(batch.channel, batch.members[:half], batch.note)
    second = Batch(batch.channel, batch.members[half:], batch.note)
    return _messages(first, channel, label_metadata) + _messages(second, channel, label_metadata)


def channel_failed_alert(name: str, error: str, now: datetime, channel: object) -> Alert:
    """The monitor alert raised when a channel fails permanently (never sent to it)."""
    shown = getattr(channel, "shown", None)
    stamp = hashlib.sha256(f"{name}|{now.isoformat()}".encode()).hexdigest()[:12]
    return Alert(
        kind=Kind.CHANNEL_FAILED,
        severity=Severity.FAILURE,
        provider="ftmon",
        job_id=None,
        at=now,
        summary=(
            f"Notification channel {name} failed permanently ({error}) and was disabled. "
            "Later alerts for it are kept and go out once its URL is fixed."
        ),
        dedup_key=f"monitor.channel_failed:{name}:{stamp}",
        hint=KIND_HINTS[Kind.CHANNEL_FAILED],
        facts={"channel": name, "error": error, **({"url": shown} if shown else {})},
    )


def _about(alert: Alert) -> dict[str, str | None]:
    return {"kind": str(alert.kind), "provider": alert.provider, "job": alert.job_id}


def _add(total: DeliveryReport, part: DeliveryReport) -> None:
    for name in ("routed", "unmatched", "held", "messages", "delivered", "retrying", "failed"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.given_up, total.disabled = total.given_up + part.given_up, total.disabled + part.disabled
    total.waiting, total.rate_limited = part.waiting, part.rate_limited
