"""Delivery policy tables: routing, quiet hours (DST), grouping, backoff, rate limit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from monitor.core.alerts import Alert, Kind, Severity
from monitor.core.deliveries import (
    COMBINED_NOTE,
    QUIET_HOURS_NOTE,
    Batch,
    Delivery,
    DeliveryStatus,
    Reason,
    RoutedBy,
)
from monitor.core.policy import (
    TokenBucket,
    batches,
    give_up_decision,
    hold_for_quiet_hours,
    in_quiet_hours,
    next_attempt,
    quiet_decision,
    quiet_release_time,
    send_decision,
    within_rate,
)
from monitor.core.routes import channels_for, delivery_targets, route, route_matches
from monitor.core.samples import sample_alert
from monitor.core.settings import QuietHours, RouteConfig

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _alert(kind: Kind = Kind.CANCELLED, nonce: str = "x", provider: str | None = None) -> Alert:
    return sample_alert(kind, T0, nonce, provider)


# -- routing ------------------------------------------------------------------------------

FAILURES = RouteConfig(channels=("slack",), kinds=("job.failed", "job.cancelled", "monitor.*"))
WARN_UP = RouteConfig(channels=("email",), min_severity=Severity.WARNING)
OPENAI_ONLY = RouteConfig(channels=("hook", "slack"), providers=("openai-prod",))
ROUTES = (FAILURES, WARN_UP, OPENAI_ONLY)


@pytest.mark.parametrize(
    ("kind", "provider", "expected"),
    [
        # a listed kind, failure severity, Together: the failure route and the warning route
        (Kind.CANCELLED, "together-prod", [(0, ("slack",)), (1, ("email",))]),
        # a glob: monitor.* takes provider_down
        (Kind.PROVIDER_DOWN, "together-prod", [(0, ("slack",)), (1, ("email",))]),
        # info is below the warning route's minimum, and not a listed kind
        (Kind.STARTED, "together-prod", []),
        # the providers filter admits openai-prod only
        (Kind.STARTED, "openai-prod", [(2, ("hook", "slack"))]),
        # success is below warning
        (Kind.SUCCEEDED, "together-prod", []),
    ],
)
def test_route_table(
    kind: Kind, provider: str, expected: list[tuple[int, tuple[str, ...]]]
) -> None:
    assert route(_alert(kind, provider=provider), ROUTES) == expected


@pytest.mark.parametrize(
    ("kind", "provider", "r", "reason"),
    [
        (Kind.STARTED, "together-prod", FAILURES, Reason.KIND_NOT_ROUTED),
        (Kind.STARTED, "together-prod", WARN_UP, Reason.BELOW_MIN_SEVERITY),
        (Kind.STARTED, "together-prod", OPENAI_ONLY, Reason.PROVIDER_NOT_ROUTED),
        (Kind.FAILED, "together-prod", FAILURES, Reason.ROUTED),
    ],
)
def test_route_reasons(kind: Kind, provider: str, r: RouteConfig, reason: Reason) -> None:
    assert route_matches(_alert(kind, provider=provider), r).reason is reason


def test_channels_for_lists_each_channel_once_in_route_order() -> None:
    alert = _alert(Kind.FAILED, provider="openai-prod")
    assert channels_for(alert, ROUTES) == ["slack", "email", "hook"]


# -- quiet hours ---------------------------------------------------------------------------

BERLIN_NIGHT = QuietHours(start=time(22, 0), end=time(7, 0), tz="Europe/Berlin")
NY_DAY = QuietHours(start=time(9, 0), end=time(17, 0), tz="America/New_York")


def _utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


@pytest.mark.parametrize(
    ("quiet", "now", "expected"),
    [
        # spans midnight: 23:30 CEST is inside, 21:30 CEST is not
        (BERLIN_NIGHT, _utc(2024, 5, 1, 21, 30), True),
        (BERLIN_NIGHT, _utc(2024, 5, 1, 19, 30), False),
        # after midnight, before 07:00 local
        (BERLIN_NIGHT, _utc(2024, 5, 2, 4, 59), True),
        (BERLIN_NIGHT, _utc(2024, 5, 2, 5, 0), False),
        # spring forward (2024-03-31): 04:30 UTC is 06:30 CEST (inside), 05:30 UTC is 07:30
        # CEST (outside); a fixed +01:00 offset would call both inside
        (BERLIN_NIGHT, _utc(2024, 3, 31, 4, 30), True),
        (BERLIN_NIGHT, _utc(2024, 3, 31, 5, 30), False),
        # fall back (2024-10-27): 05:30 UTC is 06:30 CET (inside); +02:00 would say 07:30
        (BERLIN_NIGHT, _utc(2024, 10, 27, 5, 30), True),
        (BERLIN_NIGHT, _utc(2024, 10, 27, 6, 0), False),
        # a window inside one day, in another zone
        (NY_DAY, _utc(2024, 5, 1, 13, 0), True),  # 09:00 EDT
        (NY_DAY, _utc(2024, 5, 1, 12, 59), False),
        (NY_DAY, _utc(2024, 5, 1, 21, 0), False),  # 17:00 EDT: the end is outside
        # an empty window is never quiet; no window is never quiet
        (QuietHours(start=time(8, 0), end=time(8, 0), tz="UTC"), _utc(2024, 5, 1, 8, 0), False),
        (None, _utc(2024, 5, 1, 8, 0), False),
    ],
)
def test_in_quiet_hours(quiet: QuietHours | None, now: datetime, expected: bool) -> None:
    assert in_quiet_hours(quiet, now) is expected


@pytest.mark.parametrize(
    ("now", "release"),
    [
        # before midnight: released the next morning at 07:00 CEST
        (_utc(2024, 5, 1, 21, 30), _utc(2024, 5, 2, 5, 0)),
        # after midnight: the same morning
        (_utc(2024, 5, 2, 1, 0), _utc(2024, 5, 2, 5, 0)),
        # the DST night: 07:00 CEST is 05:00 UTC, one hour less of window
        (_utc(2024, 3, 30, 23, 0), _utc(2024, 3, 31, 5, 0)),
        # the fall-back night: 07:00 CET is 06:00 UTC
        (_utc(2024, 10, 26, 23, 0), _utc(2024, 10, 27, 6, 0)),
    ],
)
def test_quiet_release_time(now: datetime, release: datetime) -> None:
    assert quiet_release_time(BERLIN_NIGHT, now) == release


def test_failures_pass_quiet_hours_and_others_wait_for_the_end() -> None:
    night = _utc(2024, 5, 1, 21, 30)
    passed = quiet_decision(_alert(Kind.FAILED), BERLIN_NIGHT, night)
    held = quiet_decision(_alert(Kind.SUCCEEDED), BERLIN_NIGHT, night)
    day = quiet_decision(_alert(Kind.SUCCEEDED), BERLIN_NIGHT, _utc(2024, 5, 1, 12, 0))
    assert (passed.go, passed.reason) == (True, Reason.FAILURE_BYPASSES_QUIET_HOURS)
    assert (held.go, held.reason, held.until) == (False, Reason.QUIET_HOURS, _utc(2024, 5, 2, 5))
    assert (day.go, day.reason) == (True, Reason.OUTSIDE_QUIET_HOURS)


# -- dedup and grouping ----------------------------------------------------------------------


def _row(
    alert: Alert,
    i: int,
    *,
    created: datetime = T0,
    channel: str = "slack",
    status: DeliveryStatus = DeliveryStatus.PENDING,
    attempts: int = 0,
) -> Delivery:
    return Delivery(
        alert_id=i,
        channel=channel,
        status=status,
        attempts=attempts,
        next_attempt_at=None,
        created_at=created,
        alert=alert,
    )


SLACK_30S = (RouteConfig(channels=("slack",), group_wait=timedelta(seconds=30)),)


@pytest.mark.parametrize(
    ("status", "disabled", "reason"),
    [
        ("sent", False, Reason.ALREADY_SENT),  # never resend a sent (alert, channel)
        ("pending", True, Reason.CHANNEL_DISABLED),
        ("pending", False, Reason.SEND),
        ("held", False, Reason.SEND),
    ],
)
def test_send_decision(status: str, disabled: bool, reason: Reason) -> None:
    assert send_decision(status, disabled).reason is reason


def test_forty_billing_cancellations_become_one_batch_after_group_wait() -> None:
    rows = [
        _row(_alert(nonce=f"j{i}"), i, created=T0 + timedelta(seconds=i % 20)) for i in range(40)
    ]
    ready, waiting = batches(rows, SLACK_30S, T0 + timedelta(seconds=29))
    assert (ready, [len(g.members) for g in waiting]) == ([], [40])
    assert waiting[0].decision.until == T0 + timedelta(seconds=30)
    ready, waiting = batches(rows, SLACK_30S, T0 + timedelta(seconds=30))
    assert ([len(b.members) for b in ready], waiting) == ([40], [])


@pytest.mark.parametrize(
    ("rows", "sizes"),
    [
        # created after the oldest's window: a group of its own
        ([_row(_alert(nonce="a"), 1),
          _row(_alert(nonce="b"), 2, created=T0 + timedelta(seconds=31))], [1, 1]),
        # a different cause is a different message
        ([_row(_alert(nonce="a"), 1), _row(_alert(Kind.FAILED, nonce="b"), 2)], [1, 1]),
        # another channel is another message
        ([_row(_alert(nonce="a"), 1), _row(_alert(nonce="a"), 1, channel="email")], [1, 1]),
        # a storm beyond MAX_GROUP is split into several messages
        ([_row(_alert(nonce=f"s{i}"), i) for i in range(120)], [50, 50, 20]),
        # released from quiet hours: one digest per channel, whatever the kinds
        ([_row(_alert(k, nonce=k), i, status=DeliveryStatus.HELD)
          for i, k in enumerate([Kind.STARTED, Kind.SUCCEEDED, Kind.REFUNDED])], [3]),
    ],
)  # fmt: skip
def test_grouping_table(rows: list[Delivery], sizes: list[int]) -> None:
    routes = (RouteConfig(channels=("slack", "email"), group_wait=timedelta(seconds=30)),)
    ready, _ = batches(rows, routes, T0 + timedelta(minutes=5))
    assert sorted((len(b.members) for b in ready), reverse=True) == sizes


def test_a_row_keeps_the_route_it_was_routed_by_after_the_routes_change() -> None:
    """Routes are matched once, when an alert is routed; the row keeps that route's
    grouping, so a reload to other routes neither releases nor regroups it."""
    alerts = [_alert(nonce=f"j{i}") for i in range(3)]
    targets = [delivery_targets(a, SLACK_30S, ["slack"]) for a in alerts]
    assert all(t == {"slack": RoutedBy.of(0, SLACK_30S[0])} for t in targets)
    rows = [
        replace(_row(a, i), route=t["slack"])
        for i, (a, t) in enumerate(zip(alerts, targets, strict=True))
    ]
    reloaded = (RouteConfig(channels=("slack",), group_wait=timedelta(0)),)
    ready, waiting = batches(rows, reloaded, T0 + timedelta(seconds=5))
    assert (ready, [len(g.members) for g in waiting]) == ([], [3])
    # a row routed by an older ftmon (no stored route) is matched against today's routes
    ready, _ = batches([_row(alerts[0], 9)], reloaded, T0 + timedelta(seconds=5))
    assert len(ready) == 1


def test_retries_and_flush_skip_group_wait_and_digests_are_marked() -> None:
    retry = _row(_alert(nonce="r"), 1, attempts=2)
    fresh = _row(_alert(Kind.FAILED, nonce="f"), 2)
    held = _row(_alert(Kind.STARTED, nonce="h"), 3, status=DeliveryStatus.HELD)
    ready, waiting = batches([retry, fresh, held], SLACK_30S, T0)
    assert [(b.members[0].alert_id, b.note) for b in ready] == [(1, None), (3, QUIET_HOURS_NOTE)]
    assert [g.members[0].alert_id for g in waiting] == [2]
    ready, _ = batches([fresh], SLACK_30S, T0, flush=True)
    assert ready == [Batch("slack", (fresh,))]


def test_a_flood_beyond_the_bucket_becomes_one_message_oldest_first() -> None:
    """More ready messages than tokens: one combined message, in outbox order; enough
    tokens, or a single message: left as they are."""
    rows = [_row(_alert(k, nonce=k), i) for i, k in enumerate([Kind.FAILED, Kind.STARTED], 1)]
    held = _row(_alert(Kind.REFUNDED, nonce="h"), 3, status=DeliveryStatus.HELD)
    queue = [Batch("slack", (rows[1],)), Batch("slack", (held,), QUIET_HOURS_NOTE)]
    queue.insert(0, Batch("slack", (rows[0],)))
    assert within_rate(queue, 3.0) == queue
    assert within_rate(queue[:1], 0.2) == queue[:1]
    (combined,) = within_rate(queue, 2.9)
    assert [d.alert_id for d in combined.members] == [1, 2, 3]
    assert (combined.channel, combined.note) == ("slack", COMBINED_NOTE)
    assert within_rate(queue, 0.0) == [combined]


def test_hold_for_quiet_hours_splits_rows_by_release_time() -> None:
    routes = (RouteConfig(channels=("slack",), quiet_hours=BERLIN_NIGHT),)
    night = _utc(2024, 5, 1, 21, 30)
    info = _row(_alert(Kind.SUCCEEDED, nonce="i"), 1)
    failure = _row(_alert(Kind.FAILED, nonce="f"), 2)
    released = _row(_alert(Kind.STARTED, nonce="s"), 3, status=DeliveryStatus.HELD)
    passed, held = hold_for_quiet_hours([info, failure, released], routes, night)
    assert passed == [failure, released]
    assert held == {_utc(2024, 5, 2, 5, 0): [info]}


# -- retries, give-up and rate limit ----------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "rng", "delay"),
    [
        (1, 0.999999, 10.0),  # first retry: up to 10 s
        (1, 0.5, 5.0),
        (2, 0.5, 10.0),  # ×2 per attempt
        (4, 1.0, 80.0),
        (7, 1.0, 640.0),
        (8, 1.0, 900.0),  # capped at 15 minutes
        (50, 0.5, 450.0),
        (3, 0.0, 1.0),  # full jitter may draw 0: the 1 s floor applies
    ],
)
def test_backoff_table(attempts: int, rng: float, delay: float) -> None:
    got = (next_attempt(attempts, T0, rng) - T0).total_seconds()
    assert got == pytest.approx(delay, abs=0.001)


def test_backoff_always_within_floor_and_cap() -> None:
    for attempts in range(1, 40):
        for rng in (0.0, 0.1, 0.5, 0.9, 0.999999):
            delay = next_attempt(attempts, T0, rng) - T0
            assert timedelta(seconds=1) <= delay <= timedelta(minutes=15)


def test_give_up_after_24_hours() -> None:
    assert give_up_decision(T0, T0 + timedelta(hours=23, minutes=59)).go is False
    late = give_up_decision(T0, T0 + timedelta(hours=24))
    assert (late.go, late.reason) == (True, Reason.GIVE_UP)


def test_token_bucket_lets_twenty_a_minute_through_and_says_when_the_next_may_go() -> None:
    bucket = TokenBucket()
    for _ in range(20):
        bucket, decision = bucket.take(T0)
        assert decision.go
    bucket, decision = bucket.take(T0)
    assert (decision.go, decision.reason) == (False, Reason.RATE_LIMITED)
    assert decision.until == T0 + timedelta(seconds=3)
    bucket, decision = bucket.take(T0 + timedelta(seconds=3))
    assert decision.go
    bucket, decision = bucket.take(T0 + timedelta(seconds=3))
    assert not decision.go
    bucket, decision = bucket.take(T0 + timedelta(hours=1))  # refills, but only to capacity
    assert decision.go and bucket.tokens == 19


def test_a_window_ending_in_a_dst_gap_or_overlap_ends_once() -> None:
    """02:30 does not exist on the spring-forward night (released at 03:30 CEST) and
    happens twice on the fall-back night (released the first time, 02:30 CEST)."""
    ends_0230 = QuietHours(start=time(22, 0), end=time(2, 30), tz="Europe/Berlin")
    assert quiet_release_time(ends_0230, _utc(2024, 3, 30, 23, 0)) == _utc(2024, 3, 31, 1, 30)
    assert quiet_release_time(ends_0230, _utc(2024, 10, 26, 23, 0)) == _utc(2024, 10, 27, 0, 30)
