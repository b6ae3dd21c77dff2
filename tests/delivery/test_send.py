"""The send stage against real receivers: outages retried until each alert arrives once, a
permanent failure that disables its channel and tells the others, a big group in one post."""

from __future__ import annotations

from structlog.testing import capture_logs

from monitor.delivery.channels import AppriseChannel
from monitor.storage.base import Store
from tests.clock import Clock
from tests.delivery.kit import (
    T0,
    both_channels,
    cancellations,
    labels,
    make_dispatcher,
    ok_bodies,
)
from tests.receivers import HttpReceiver, SmtpReceiver


async def test_webhook_outage_then_recovery_delivers_each_alert_exactly_once(
    store: Store, clock: Clock, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    """503s, then refused connections, then recovery: every alert arrives once, and the
    email channel, which succeeded at once, is never sent anything again."""
    first, second = cancellations(2, T0, "a"), cancellations(2, T0, "b")
    store.enqueue(first, T0)
    dispatcher = make_dispatcher(store, both_channels(smtp_receiver, http_receiver), clock)
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
    assert sorted(labels(ok_bodies(http_receiver))) == sorted(
        a.label_line() for a in first + second
    )
    mails = [m.text() for m in smtp_receiver]
    assert sorted(labels(mails)) == sorted(a.label_line() for a in first + second)


async def test_permanent_failure_disables_channel_and_alerts_the_others(
    store: Store, clock: Clock, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    """A 404 from the webhook: no retry, the channel is disabled, and a
    monitor.channel_failed alert reaches the email channel (and never the webhook)."""
    http_receiver.answer_always(404)
    store.enqueue(cancellations(1, T0), T0)
    dispatcher = make_dispatcher(store, both_channels(smtp_receiver, http_receiver), clock)
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
    store.enqueue(cancellations(1, clock.now, "late"), clock.now)
    clock.advance(hours=1)
    await dispatcher.run_once()
    assert len(http_receiver.requests) == 1
    summary = store.outbox.pending_summary()
    assert summary.by_channel["hook"] == {"failed": 1, "pending": 1}
    assert [d.channel for d in summary.disabled] == ["hook"]


async def test_slack_gets_one_grouped_post_with_a_label_line_per_job(
    store: Store, clock: Clock, slack_receiver: HttpReceiver
) -> None:
    """The real Slack plugin: 40 jobs in one post, each label line its own code-span line."""
    slack = {"ml-slack": AppriseChannel("ml-slack", "slack://T1ABCDEFG/B2HIJKLMN/abcdefghijklmnop")}
    alerts = cancellations(40, T0)
    store.enqueue(alerts, T0)
    assert (await make_dispatcher(store, slack, clock).run_once()).messages == 1
    (post,) = slack_receiver.requests
    text = post.json()["attachments"][0]["text"]
    assert text.splitlines()[-40:] == [f"`{a.label_line()}`" for a in alerts]
