"""Delivery decisions (DESIGN section 4), pure: `now` comes in, a reason goes out.

Rules of this module:
- route: see `routes` (which channels, by which route; matched once, stored on the row).
- quiet hours: inside a route's daily window (its own time zone, DST-aware, possibly
  spanning midnight) non-failure alerts are held until the window ends; failures pass.
- grouping: pending deliveries of one channel, route, provider and `group_cause` whose
  created times fall within `group_wait` of the oldest become one message, released when
  the oldest is `group_wait` old. Alerts held by quiet hours are released as one digest.
- backoff: exponential (base × factor^(n-1), capped) with full jitter; the jitter value is
  passed in. A delivery pending longer than `give_up_after` is given up.
- rate limit: a token bucket per channel; a message without a token waits, never drops.
  When more messages are ready than the bucket holds, they go as one combined message
  (oldest alert first), so a flood costs one message instead of a growing backlog that
  would hold later failures back.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from monitor.core.alerts import Alert, Severity
from monitor.core.deliveries import (
    COMBINED_NOTE,
    QUIET_HOURS_NOTE,
    Batch,
    Decision,
    Delivery,
    DeliveryStatus,
    Reason,
)
from monitor.core.routes import routed_by
from monitor.core.settings import QuietHours, RouteConfig

T = TypeVar("T")

BACKOFF_BASE, BACKOFF_FACTOR, BACKOFF_CAP = timedelta(seconds=10), 2.0, timedelta(minutes=15)
BACKOFF_FLOOR = timedelta(seconds=1)  # full jitter may draw ~0: never retry in a hot loop
GIVE_UP_AFTER = timedelta(hours=24)
MAX_GROUP = 50  # alerts per message; a bigger storm becomes several messages


# -- quiet hours -------------------------------------------------------------------------


def in_quiet_hours(quiet: QuietHours | None, now: datetime) -> bool:
    if quiet is None or quiet.start == quiet.end:
        return False
    local = now.astimezone(ZoneInfo(quiet.tz)).time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end  # the window spans midnight


def quiet_release_time(quiet: QuietHours, now: datetime) -> datetime:
    """When the window ends: the next local `end` after `now`, in now's time zone.

    An end time skipped by a DST jump counts as the same time after the jump (02:30 on a
    spring-forward night is released at 03:30 local); a repeated one counts the first time.
    """
    zone = ZoneInfo(quiet.tz)
    today = now.astimezone(zone).date()
    for days in range(3):
        candidate = datetime.combine(today + timedelta(days=days), quiet.end, tzinfo=zone)
        if candidate > now:
            return candidate.astimezone(now.tzinfo)
    raise AssertionError("a daily window always ends within two days")  # pragma: no cover


def quiet_decision(alert: Alert, quiet: QuietHours | None, now: datetime) -> Decision:
    """Hold a non-failure alert inside the window until it ends; failures go through."""
    if not in_quiet_hours(quiet, now):
        return Decision(go=True, reason=Reason.OUTSIDE_QUIET_HOURS)
    assert quiet is not None
    if alert.severity is Severity.FAILURE:
        return Decision(go=True, reason=Reason.FAILURE_BYPASSES_QUIET_HOURS)
    return Decision(go=False, reason=Reason.QUIET_HOURS, until=quiet_release_time(quiet, now))


# -- dedup -----------------------------------------------------------------------------


def send_decision(status: str, channel_disabled: bool) -> Decision:
    """A (alert, channel) already sent is never sent again; a disabled channel waits."""
    if status == "sent":
        return Decision(go=False, reason=Reason.ALREADY_SENT)
    if channel_disabled:
        return Decision(go=False, reason=Reason.CHANNEL_DISABLED)
    return Decision(go=True, reason=Reason.SEND)


# -- grouping --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Group(Generic[T]):
    members: tuple[T, ...]
    decision: Decision


def group(
    items: Sequence[T],
    key: Callable[[T], Hashable],
    created: Callable[[T], datetime],
    group_wait: Callable[[T], timedelta],
    now: datetime,
    *,
    max_size: int = MAX_GROUP,
) -> list[Group[T]]:
    """Split `items` into messages: same key, created within `group_wait` of the oldest."""
    buckets: dict[Hashable, list[T]] = {}
    for item in sorted(items, key=created):
        buckets.setdefault(key(item), []).append(item)
    out: list[Group[T]] = []
    for members in buckets.values():
        while members:
            release = created(members[0]) + group_wait(members[0])
            size = min(max_size, sum(1 for m in members if created(m) <= release))
            ready = now >= release
            why = Reason.GROUP_READY if ready else Reason.GROUP_WAIT
            out.append(Group(tuple(members[:size]), Decision(go=ready, reason=why, until=release)))
            members = members[size:]
    return out


def hold_for_quiet_hours(
    rows: Sequence[Delivery], routes: Sequence[RouteConfig], now: datetime
) -> tuple[list[Delivery], dict[datetime, list[Delivery]]]:
    """(rows to go on with, rows to hold by release time). Held rows whose time came pass."""
    passed: list[Delivery] = []
    held: dict[datetime, list[Delivery]] = {}
    for d in rows:
        r = routed_by(d, routes)
        quiet = r.quiet_hours if r and d.status is DeliveryStatus.PENDING else None
        decision = quiet_decision(d.alert, quiet, now)
        if decision.go or decision.until is None:
            passed.append(d)
        else:
            held.setdefault(decision.until, []).append(d)
    return passed, held


def batches(
    rows: Sequence[Delivery],
    routes: Sequence[RouteConfig],
    now: datetime,
    *,
    flush: bool = False,
) -> tuple[list[Batch], list[Group[Delivery]]]:
    """(messages ready now, groups still inside their group_wait).

    Rows of one channel, route, provider and group cause group together; rows released
    from quiet hours form one digest per channel. Retries and `flush` wait no longer.
    """

    routed = {(d.alert_id, d.channel): routed_by(d, routes) for d in rows}

    def key(d: Delivery) -> Hashable:
        if d.status is DeliveryStatus.HELD:
            return (d.channel, "digest")
        r = routed[(d.alert_id, d.channel)]
        return (d.channel, r.index if r else -1, d.alert.provider, d.alert.group_cause)

    def wait(d: Delivery) -> timedelta:
        r = routed[(d.alert_id, d.channel)]
        again = d.status is DeliveryStatus.HELD or d.attempts > 0
        return timedelta(0) if flush or again or r is None else r.group_wait

    ready: list[Batch] = []
    waiting: list[Group[Delivery]] = []
    # A row created "in the future" was created by a clock that has since gone back: it
    # is as old as now, not a day younger (its group would wait out the jump).
    for g in group(rows, key, lambda d: min(d.created_at, now), wait, now):
        if g.decision.go:
            first = g.members[0]
            held = first.status is DeliveryStatus.HELD
            ready.append(Batch(first.channel, g.members, QUIET_HOURS_NOTE if held else None))
        else:
            waiting.append(g)
    return ready, waiting


# -- retries ---------------------------------------------------------------------------


def next_attempt(
    attempts: int,
    now: datetime,
    rng_value: float,
    *,
    base: timedelta = BACKOFF_BASE,
    factor: float = BACKOFF_FACTOR,
    cap: timedelta = BACKOFF_CAP,
    floor: timedelta = BACKOFF_FLOOR,
) -> datetime:
    """After `attempts` failed tries: now + uniform(0, min(cap, base·factor^(n-1))).

    `rng_value` in [0, 1) is the jitter draw (full jitter), injected so tests pin it.
    """
    ceiling = min(cap.total_seconds(), base.total_seconds() * factor ** max(0, attempts - 1))
    delay = max(floor.total_seconds(), min(1.0, max(0.0, rng_value)) * ceiling)
    return now + timedelta(seconds=delay)


def give_up_decision(
    created: datetime, now: datetime, give_up_after: timedelta = GIVE_UP_AFTER
) -> Decision:
    if now - created >= give_up_after:
        return Decision(go=True, reason=Reason.GIVE_UP)
    return Decision(go=False, reason=Reason.KEEP_TRYING, until=created + give_up_after)


# -- rate limit ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenBucket:
    """At most `capacity` messages at once, refilled at `capacity` per `per`."""

    capacity: float = 20.0
    per: timedelta = timedelta(minutes=1)
    tokens: float = 20.0
    updated: datetime | None = None

    def available(self, now: datetime) -> float:
        """Tokens in the bucket at `now`, without spending one."""
        rate = self.capacity / self.per.total_seconds()
        elapsed = 0.0 if self.updated is None else max(0.0, (now - self.updated).total_seconds())
        return min(self.capacity, self.tokens + elapsed * rate)

    def take(self, now: datetime) -> tuple[TokenBucket, Decision]:
        """Spend one token if there is one; otherwise say when the next one arrives."""
        rate = self.capacity / self.per.total_seconds()
        tokens = self.available(now)
        if tokens >= 1.0:
            spent = replace(self, tokens=tokens - 1.0, updated=now)
            return spent, Decision(go=True, reason=Reason.WITHIN_RATE)
        wait = timedelta(seconds=(1.0 - tokens) / rate)
        kept = replace(self, tokens=tokens, updated=now)
        return kept, Decision(go=False, reason=Reason.RATE_LIMITED, until=now + wait)


def within_rate(batches: Sequence[Batch], tokens: float) -> list[Batch]:
    """One channel's ready messages, fitted to the tokens its bucket holds: as they are
    when there are enough, else one message with all their alerts, oldest first."""
    if len(batches) <= max(1.0, tokens):
        return list(batches)
    members = sorted((d for b in batches for d in b.members), key=lambda d: d.alert_id)
    return [Batch(batches[0].channel, tuple(members), COMBINED_NOTE)]
