"""The pipeline's last stage (shell): claim, render, send, and record each attempt.

Apart from `dispatch` because it is where a pass meets the outside world, and its failure
rules are the ones a reader looks for: a channel-wide failure (refused, timed out, 5xx,
429) defers the rest of that channel's pass to the same retry time, in order; a message
that fails on its own content (a plugin that raised on it, a 413, a rendering bug) is
retried alone while the channel's other messages go, and is given up loudly after
`MESSAGE_ATTEMPTS`; a permanent failure disables the channel and tells the others.
A send is recorded only after its outcome is known.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import anyio
from structlog.typing import FilteringBoundLogger

from monitor.core import policy
from monitor.core.alerts import KIND_HINTS, Alert, Kind, Severity
from monitor.core.deliveries import Batch, Delivery
from monitor.core.redact import REDACTOR
from monitor.core.render import Message, render
from monitor.delivery.channels import Channel, SendResult
from monitor.delivery.report import DeliveryReport, about
from monitor.storage.base import Outcome, Store

MESSAGE_ATTEMPTS = 5  # a message failing on its own content is given up after this many


class Sender:
    """Sends a pass's batches: channels in parallel, each channel's messages in order."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        log: FilteringBoundLogger,
        *,
        rng: Callable[[], float] = random.random,
        label_metadata: Sequence[str] = (),
        claim_for: timedelta,
    ) -> None:
        self._store = store
        self._outbox = store.outbox
        self._channels = channels
        self._log = log
        self._rng = rng
        self._label_metadata = tuple(label_metadata)
        self._claim_for = claim_for

    async def send(self, batches: list[Batch], now: datetime, report: DeliveryReport) -> None:
        """Claim each batch's rows (another replica may hold some), then send and record."""
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
                **about(d.alert),
            )

    def _disable(self, name: str, error: str, now: datetime, report: DeliveryReport) -> None:
        """A permanent failure: stop using the channel and tell people on the others."""
        self._outbox.disable_channel(name, error, now)
        report.disabled.append(name)
        self._log.error("channel_disabled", channel=name, error=error)
        self._store.enqueue([channel_failed_alert(name, error, now, self._channels[name])], now)
        report.wake_at(now)


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
