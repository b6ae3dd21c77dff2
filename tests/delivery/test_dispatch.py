"""The pipeline's gates against real receivers: routing, grouping, restarts, quiet hours,
give-up, rate limits and re-enabled channels, with an injected clock (no sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from structlog.testing import capture_logs

from monitor.core.alerts import Kind
from monitor.core.deliveries import COMBINED_NOTE
from monitor.core.policy import TokenBucket
from monitor.core.samples import sample_alert
from monitor.core.settings import QuietHours, RouteConfig
from monitor.storage.base import Store
from monitor.storage.sqlite import SqliteStore
from tests.clock import Clock
from tests.delivery.kit import (
    T0,
    both_channels,
    cancellations,
    hook_channel,
    labels,
    make_dispatcher,
    ok_bodies,
)
from tests.receivers import HttpReceiver, SmtpReceiver


async def test_one_alert_reaches_both_channels_once(
    store: Store, clock: Clock, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    """Each channel gets the alert once; later passes never send it again."""
    (alert,) = cancellations(1, T0)
    store.enqueue([alert], T0)
    dispatcher = make_dispatcher(store, both_channels(smtp_receiver, http_receiver), clock)
    report = await dispatcher.run_once()
    assert (report.routed, report.messages, report.delivered) == (1, 2, 2)
    for _ in range(3):
        clock.advance(hours=1)
        assert (await dispatcher.run_once()).messages == 0
    assert len(list(smtp_receiver)) == 1
    assert len(http_receiver.requests) == 1
    assert labels(ok_bodies(http_receiver)) == [alert.label_line()]


async def test_forty_cancellations_become_one_message(
    store: Store, clock: Clock, http_receiver: HttpReceiver
) -> None:
    """A billing-limit storm: one message listing 40 jobs, one label line each."""
    hook = hook_channel(http_receiver)
    route = RouteConfig(channels=("hook",), group_wait=timedelta(seconds=30))
    dispatcher = make_dispatcher(store, hook, clock, routes=(route,))
    alerts = cancellations(40, T0)
    store.enqueue(alerts[:20], T0)
    store.enqueue(alerts[20:], T0 + timedelta(seconds=10))
    clock.advance(seconds=20)
    report = await dispatcher.run_once()
    assert (report.waiting, report.messages, report.next_due) == (40, 0, T0 + timedelta(seconds=30))
    clock.advance(seconds=10)
    report = await dispatcher.run_once()
    assert (report.messages, report.delivered) == (1, 40)
    (request,) = http_receiver.requests
    assert request.json()["title"] == "together-prod: 40 jobs cancelled — billing limit reached"
    assert sorted(labels([request.json()["message"]])) == sorted(a.label_line() for a in alerts)


async def test_pending_alerts_survive_a_restart(
    tmp_path: Path, clock: Clock, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    """Alerts left pending (one retrying, one never routed) in the SQLite file are delivered
    by a new Dispatcher on the same file; nothing already sent is sent again."""
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    alerts = cancellations(1, T0, "a") + cancellations(1, T0, "b")
    store.enqueue(alerts[:1], T0)
    http_receiver.refuse()
    dispatcher = make_dispatcher(store, both_channels(smtp_receiver, http_receiver), clock)
    report = await dispatcher.run_once()
    assert report.retrying == 1 and report.next_due is not None
    store.enqueue(alerts[1:], T0)  # enqueued, never routed
    store.close()

    http_receiver.recover()
    clock.now = report.next_due
    store = SqliteStore(path)
    try:
        dispatcher = make_dispatcher(store, both_channels(smtp_receiver, http_receiver), clock)
        report = await dispatcher.run_once()
        assert store.outbox.pending_summary().totals == {"sent": 4}
    finally:
        store.close()
    assert sorted(labels(ok_bodies(http_receiver))) == sorted(a.label_line() for a in alerts)
    mails = [m.text() for m in smtp_receiver]
    assert sorted(labels(mails)) == sorted(a.label_line() for a in alerts)  # none twice


async def test_quiet_hours_hold_info_release_one_digest_and_let_failures_through(
    store: Store, clock: Clock, http_receiver: HttpReceiver
) -> None:
    quiet = QuietHours(start=time(22, 0), end=time(7, 0), tz="Europe/Berlin")
    route = RouteConfig(channels=("hook",), group_wait=timedelta(0), quiet_hours=quiet)
    hook = hook_channel(http_receiver)
    night = datetime(2024, 5, 1, 21, 30, tzinfo=UTC)  # 23:30 in Berlin (CEST)
    clock.now = night
    done = [sample_alert(Kind.SUCCEEDED, night, f"ok{i}") for i in range(2)]
    started = sample_alert(Kind.STARTED, night, "st0")
    failed = sample_alert(Kind.FAILED, night, "bad0")
    store.enqueue([*done, started, failed], night)
    dispatcher = make_dispatcher(store, hook, clock, routes=(route,))
    report = await dispatcher.run_once()
    assert (report.held, report.messages) == (3, 1)  # the failure went through
    assert report.next_due == datetime(2024, 5, 2, 5, 0, tzinfo=UTC)  # 07:00 Berlin
    clock.now = datetime(2024, 5, 2, 4, 59, tzinfo=UTC)
    assert (await dispatcher.run_once()).messages == 0
    clock.now = datetime(2024, 5, 2, 5, 0, tzinfo=UTC)
    report = await dispatcher.run_once()
    assert (report.messages, report.delivered) == (1, 3)
    digest = http_receiver.requests[-1].json()
    assert digest["message"].startswith("Held during quiet hours.")
    assert sorted(labels([digest["message"]])) == sorted(a.label_line() for a in [*done, started])


async def test_a_delivery_pending_too_long_is_given_up_loudly(
    store: Store, clock: Clock, http_receiver: HttpReceiver
) -> None:
    http_receiver.answer_always(503)
    hook = hook_channel(http_receiver)
    store.enqueue(cancellations(1, T0), T0)
    dispatcher = make_dispatcher(store, hook, clock, give_up_after=timedelta(hours=1))
    await dispatcher.run_once()
    clock.advance(hours=1)
    with capture_logs() as logs:
        report = await dispatcher.run_once()
    assert report.given_up == 1
    (event,) = [e for e in logs if e["event"] == "delivery_given_up"]
    assert (event["log_level"], event["channel"], event["attempts"]) == ("error", "hook", 1)
    assert store.outbox.pending_summary().totals == {"given_up": 1}


async def test_a_flood_beyond_the_rate_limit_is_combined_and_never_dropped(
    store: Store, clock: Clock, http_receiver: HttpReceiver
) -> None:
    """Four messages due, two tokens: one combined post with all four label lines, in
    outbox order; with the bucket empty the next alert waits for a token, then goes."""
    hook = hook_channel(http_receiver)
    kinds = [Kind.STARTED, Kind.SUCCEEDED, Kind.FAILED, Kind.REFUNDED]
    store.enqueue([sample_alert(k, T0, f"r{i}") for i, k in enumerate(kinds)], T0)
    bucket = TokenBucket(capacity=2, per=timedelta(minutes=1), tokens=1)
    dispatcher = make_dispatcher(store, hook, clock, bucket=bucket)
    report = await dispatcher.run_once()
    assert (report.messages, report.delivered, report.rate_limited) == (1, 4, 0)
    (post,) = http_receiver.requests
    message = post.json()["message"]
    labels = [line.split()[0] for line in message.splitlines() if line.startswith("kind=")]
    assert labels == [f"kind={k}" for k in kinds]
    assert COMBINED_NOTE in message
    store.enqueue([sample_alert(Kind.CANCELLED, T0, "late")], T0)
    report = await dispatcher.run_once()
    assert (report.messages, report.rate_limited) == (0, 1)
    assert report.next_due == T0 + timedelta(seconds=30)
    clock.now = report.next_due
    assert (await dispatcher.run_once()).messages == 1
    assert len(http_receiver.requests) == 2


async def test_a_disabled_channel_comes_back_when_its_url_changes(
    store: Store, clock: Clock, http_receiver: HttpReceiver
) -> None:
    """Fixing the URL and restarting (or reloading) re-enables the channel; the alerts that
    waited for it are then delivered."""
    http_receiver.answer_always(404)
    broken = hook_channel(http_receiver, "/old")
    store.enqueue(cancellations(1, T0, "a"), T0)
    await make_dispatcher(store, broken, clock).run_once()
    store.enqueue(cancellations(1, T0, "b"), T0)
    await make_dispatcher(store, broken, clock).run_once()  # same URL: still disabled
    assert len(http_receiver.requests) == 1
    http_receiver.answer_always(200)
    fixed = hook_channel(http_receiver, "/new")
    with capture_logs() as logs:
        report = await make_dispatcher(store, fixed, clock).run_once()
    assert {"event": "channel_reenabled", "channel": "hook", "reason": "url_changed",
            "log_level": "info"} in logs  # fmt: skip
    assert report.delivered == 1
    assert http_receiver.requests[-1].path == "/new"
