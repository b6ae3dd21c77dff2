"""The dispatcher against real receivers: grouping, outages, permanent failures, restarts,
quiet hours, give-up and rate limits, with an injected clock (no sleeps)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from monitor.core.alerts import Alert, Kind
from monitor.core.deliveries import COMBINED_NOTE
from monitor.core.policy import TokenBucket
from monitor.core.samples import sample_alert
from monitor.core.settings import QuietHours, RouteConfig
from monitor.delivery.channels import AppriseChannel, Channel
from monitor.delivery.dispatch import Dispatcher
from monitor.storage.base import Store
from monitor.storage.postgresql import PgStore
from monitor.storage.sqlite import SqliteStore
from tests.receivers import HttpReceiver, SmtpReceiver

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every dispatch behaviour, on both backends (the PostgreSQL one on a throwaway server)."""
    s: Store = (
        SqliteStore(tmp_path / "state.db")
        if request.param == "sqlite"
        else PgStore(request.getfixturevalue("pg_url"))
    )
    yield s
    s.close()


def _channels(smtp: SmtpReceiver, hook: HttpReceiver) -> dict[str, Channel]:
    return {
        "ops-email": AppriseChannel("ops-email", smtp.url()),
        "hook": AppriseChannel("hook", f"json://127.0.0.1:{hook.port}/hook"),
    }


def _dispatcher(
    store: Store, channels: Mapping[str, Channel], clock: Clock, **kw: object
) -> Dispatcher:
    routes = kw.pop("routes", (RouteConfig(channels=tuple(channels), group_wait=timedelta(0)),))
    return Dispatcher(store, channels, routes, clock, rng=lambda: 0.5, **kw)  # type: ignore[arg-type]


def _cancellations(n: int, at: datetime, prefix: str = "j") -> list[Alert]:
    return [sample_alert(Kind.CANCELLED, at, f"{prefix}{i:03d}") for i in range(n)]


def _labels(requests: list[str]) -> list[str]:
    return [line for body in requests for line in body.splitlines() if line.startswith("kind=")]


def _ok_bodies(hook: HttpReceiver) -> list[str]:
    return [r.json()["message"] for r, status in zip(hook.requests, hook.answered, strict=True)
            if status == 200]  # fmt: skip


async def test_one_alert_reaches_both_channels_once(
    store: Store, clock: Clock, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    """Each channel gets the alert once; later passes never send it again."""
    (alert,) = _cancellations(1, T0)
    store.enqueue([alert], T0)
    dispatcher = _dispatcher(store, _channels(smtp_receiver, http_receiver), clock)
    report = await dispatcher.run_once()
    assert (report.routed, report.messages, report.delivered) == (1, 2, 2)
    for _ in range(3):
        clock.advance(hours=1)
        assert (await dispatcher.run_once()).messages == 0
    assert len(list(smtp_receiver)) == 1
    assert len(http_receiver.requests) == 1
    assert _labels(_ok_bodies(http_receiver)) == [alert.label_line()]


async def test_forty_cancellations_become_one_message(
    store: Store, clock: Clock, http_receiver: HttpReceiver
) -> None:
    """A billing-limit storm: one message listing 40 jobs, one label line each."""
    hook = {"hook": AppriseChannel("hook", f"json://127.0.0.1:{http_receiver.port}/hook")}
    route = RouteConfig(channels=("hook",), group_wait=timedelta(seconds=30))
    dispatcher = _dispatcher(store, hook, clock, routes=(route,))
    alerts = _cancellations(40, T0)
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
    assert sorted(_labels([request.json()["message"]])) == sorted(a.label_line() for a in alerts)


async def test_webhook_outage_then_recovery_delivers_each_alert_exactly_once(
    store: Store, clock: Clock, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    """503s, then refused connections, then recovery: every alert arrives once, and the
    email channel, which succeeded at once, is never sent anything again."""
    first, second = _cancellations(2, T0, "a"), _cancellations(2, T0, "b")
    store.enqueue(first, T0)
    dispatcher = _dispatcher(store, _channels(smtp_receiver, http_receiver), clock)
    http_receiver.fail_next(2, 503)
    report = await dispatcher.run_once()
    assert (report.messages, report.retrying) == (1, 2)  # the email went, the webhook failed
    assert report.next_due is not None
    clock.now = report.next_due
    assert (await dispatcher.run_once()).retrying == 2  # second 503
    http_receiver.refuse()
    store.enqueue(second, clock.now)
    for _ in range(3):  # connection refused, retried with backoff
        report = await dispatcher.run_once()
        assert report.next_due is not None
        clock.now = report.next_due
    http_receiver.recover()
    for _ in range(10):
        report = await dispatcher.run_once()
        if report.next_due is None:
            break
        clock.now = report.next_due
    summary = store.outbox.pending_summary()
    assert summary.totals == {"sent": 8}
    assert sorted(_labels(_ok_bodies(http_receiver))) == sorted(
        a.label_line() for a in first + second
    )
    mails = [m.text() for m in smtp_receiver]
    assert sorted(_labels(mails)) == sorted(a.label_line() for a in first + second)


async def test_permanent_failure_disables_channel_and_alerts_the_others(
    store: Store, clock: Clock, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    """A 404 from the webhook: no retry, the channel is disabled, and a
    monitor.channel_failed alert reaches the email channel (and never the webhook)."""
    http_receiver.answer_always(404)
    store.enqueue(_cancellations(1, T0), T0)
    dispatcher = _dispatcher(store, _channels(smtp_receiver, http_receiver), clock)
    with capture_logs() as logs:
        report = await dispatcher.run_once()
        assert (report.failed, report.disabled) == (1, ["hook"])
        clock.advance(seconds=1)
        report = await dispatcher.run_once()
    assert report.messages == 1
    failed_mail = list(smtp_receiver)[-1]
    assert failed_mail.subject == "ftmon: channel hook failed and was disabled"
    assert "kind=monitor.channel_failed severity=failure provider=ftmon" in failed_mail.text()
    assert "HTTP 404 Not Found" in failed_mail.text()
    assert len(http_receiver.requests) == 1
    disabled = [e for e in logs if e["event"] == "channel_disabled"]
    assert disabled == [
        {"event": "channel_disabled", "channel": "hook", "error": "HTTP 404 Not Found",
         "log_level": "error"}
    ]  # fmt: skip
    assert not any(str(http_receiver.port) in str(e) for e in logs)
    # later alerts wait for the channel instead of being tried or dropped
    store.enqueue(_cancellations(1, clock.now, "late"), clock.now)
    clock.advance(hours=1)
    await dispatcher.run_once()
    assert len(http_receiver.requests) == 1
    summary = store.outbox.pending_summary()
    assert summary.by_channel["hook"] == {"failed": 1, "pending": 1}
    assert [d.channel for d in summary.disabled] == ["hook"]


async def test_pending_alerts_survive_a_restart(
    tmp_path: Path, clock: Clock, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    """Alerts left pending (one retrying, one never routed) in the SQLite file are delivered
    by a new Dispatcher on the same file; nothing already sent is sent again."""
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    alerts = _cancellations(1, T0, "a") + _cancellations(1, T0, "b")
    store.enqueue(alerts[:1], T0)
    http_receiver.refuse()
    report = await _dispatcher(store, _channels(smtp_receiver, http_receiver), clock).run_once()
    assert report.retrying == 1 and report.next_due is not None
    store.enqueue(alerts[1:], T0)  # enqueued, never routed
    store.close()

    http_receiver.recover()
    clock.now = report.next_due
    store = SqliteStore(path)
    try:
        report = await _dispatcher(store, _channels(smtp_receiver, http_receiver), clock).run_once()
        assert store.outbox.pending_summary().totals == {"sent": 4}
    finally:
        store.close()
    assert sorted(_labels(_ok_bodies(http_receiver))) == sorted(a.label_line() for a in alerts)
    mails = [m.text() for m in smtp_receiver]
    assert sorted(_labels(mails)) == sorted(a.label_line() for a in alerts)  # none twice


async def test_quiet_hours_hold_info_release_one_digest_and_let_failures_through(
    store: Store, clock: Clock, http_receiver: HttpReceiver
) -> None:
    quiet = QuietHours(start=time(22, 0), end=time(7, 0), tz="Europe/Berlin")
    route = RouteConfig(channels=("hook",), group_wait=timedelta(0), quiet_hours=quiet)
    hook = {"hook": AppriseChannel("hook", f"json://127.0.0.1:{http_receiver.port}/hook")}
    night = datetime(2024, 5, 1, 21, 30, tzinfo=UTC)  # 23:30 in Berlin (CEST)
    clock.now = night
    done = [sample_alert(Kind.SUCCEEDED, night, f"ok{i}") for i in range(2)]
    started = sample_alert(Kind.STARTED, night, "st0")
    failed = sample_alert(Kind.FAILED, night, "bad0")
    store.enqueue([*done, started, failed], night)
    dispatcher = _dispatcher(store, hook, clock, routes=(route,))
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
    assert sorted(_labels([digest["message"]])) == sorted(a.label_line() for a in [*done, started])


async def test_a_delivery_pending_too_long_is_given_up_loudly(
    store: Store, clock: Clock, http_receiver: HttpReceiver
) -> None:
    http_receiver.answer_always(503)
    hook = {"hook": AppriseChannel("hook", f"json://127.0.0.1:{http_receiver.port}/hook")}
    store.enqueue(_cancellations(1, T0), T0)
    dispatcher = _dispatcher(store, hook, clock, give_up_after=timedelta(hours=1))
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
    hook = {"hook": AppriseChannel("hook", f"json://127.0.0.1:{http_receiver.port}/hook")}
    kinds = [Kind.STARTED, Kind.SUCCEEDED, Kind.FAILED, Kind.REFUNDED]
    store.enqueue([sample_alert(k, T0, f"r{i}") for i, k in enumerate(kinds)], T0)
    bucket = TokenBucket(capacity=2, per=timedelta(minutes=1), tokens=1)
    dispatcher = _dispatcher(store, hook, clock, bucket=bucket)
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


async def test_slack_gets_one_grouped_post_with_a_label_line_per_job(
    store: Store, clock: Clock, slack_receiver: HttpReceiver
) -> None:
    """The real Slack plugin: 40 jobs in one post, each label line its own code-span line."""
    slack = {"ml-slack": AppriseChannel("ml-slack", "slack://T1ABCDEFG/B2HIJKLMN/abcdefghijklmnop")}
    alerts = _cancellations(40, T0)
    store.enqueue(alerts, T0)
    assert (await _dispatcher(store, slack, clock).run_once()).messages == 1
    (post,) = slack_receiver.requests
    text = post.json()["attachments"][0]["text"]
    assert text.splitlines()[-40:] == [f"`{a.label_line()}`" for a in alerts]


async def test_a_disabled_channel_comes_back_when_its_url_changes(
    store: Store, clock: Clock, http_receiver: HttpReceiver
) -> None:
    """Fixing the URL and restarting (or reloading) re-enables the channel; the alerts that
    waited for it are then delivered."""
    http_receiver.answer_always(404)
    broken = {"hook": AppriseChannel("hook", f"json://127.0.0.1:{http_receiver.port}/old")}
    store.enqueue(_cancellations(1, T0, "a"), T0)
    await _dispatcher(store, broken, clock).run_once()
    store.enqueue(_cancellations(1, T0, "b"), T0)
    await _dispatcher(store, broken, clock).run_once()  # same URL: still disabled
    assert len(http_receiver.requests) == 1
    http_receiver.answer_always(200)
    fixed = {"hook": AppriseChannel("hook", f"json://127.0.0.1:{http_receiver.port}/new")}
    with capture_logs() as logs:
        report = await _dispatcher(store, fixed, clock).run_once()
    assert {"event": "channel_reenabled", "channel": "hook", "reason": "url_changed",
            "log_level": "info"} in logs  # fmt: skip
    assert report.delivered == 1
    assert http_receiver.requests[-1].path == "/new"


async def test_drain_ignores_group_wait_and_run_forever_stops_on_request(
    store: SqliteStore, http_receiver: HttpReceiver
) -> None:
    hook = {"hook": AppriseChannel("hook", f"json://127.0.0.1:{http_receiver.port}/hook")}
    route = RouteConfig(channels=("hook",), group_wait=timedelta(minutes=5))
    dispatcher = Dispatcher(store, hook, (route,))
    now = datetime.now(UTC)
    store.enqueue(_cancellations(3, now, "d"), now)
    report = await dispatcher.drain(5.0)
    assert (report.messages, report.delivered) == (1, 3)

    store.enqueue(_cancellations(1, now, "f"), now)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(dispatcher.run_forever, stop, interval=0.01))
        await anyio.sleep(0.1)
        stop.set()
    assert len(http_receiver.requests) == 1  # the new alert waits out its group_wait
    assert store.outbox.pending_summary().totals == {"sent": 3, "pending": 1}
