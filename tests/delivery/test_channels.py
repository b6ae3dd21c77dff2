"""AppriseChannel against real receivers: formats, limits, classification of failures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.core.alerts import Alert, Kind
from monitor.core.render import Message, render
from monitor.core.samples import sample_alert
from monitor.delivery.channels import AppriseChannel, check_url, classify, privacy_url
from tests.receivers import HttpReceiver, SmtpReceiver, free_port

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SLACK_URL = "slack://T1ABCDEFG/B2HIJKLMN/abcdefghijklmnopqrstuvwx"


def _message(channel: AppriseChannel, kind: Kind = Kind.CANCELLED) -> tuple[Alert, Message]:
    alert = sample_alert(kind, NOW, "abc123def456")
    return alert, render([alert], channel.fmt, channel.body_limit, channel.title_limit)


async def test_email_arrives_with_subject_body_and_label_line(smtp_receiver: SmtpReceiver) -> None:
    """A mailto:// channel sends HTML email whose text part keeps the label line a line."""
    channel = AppriseChannel("ops-email", smtp_receiver.url())
    alert, message = _message(channel)
    assert channel.fmt == "html"
    result = await channel.send(message)
    assert result.ok, result.error
    (mail,) = list(smtp_receiver)
    assert mail.rcpt_tos == ["ml-team@example.com"]
    assert mail.subject == "together-prod: ft-test-abc123def456 cancelled — billing limit reached"
    assert alert.label_line() in mail.text().splitlines()
    assert alert.label_line() in mail.html()
    assert "Add funds or raise the spending limit" in mail.text()


async def test_json_webhook_gets_text_with_label_line_last(http_receiver: HttpReceiver) -> None:
    channel = AppriseChannel("hook", f"json://127.0.0.1:{http_receiver.port}/hook")
    alert, message = _message(channel)
    assert channel.fmt == "text"
    assert (await channel.send(message)).ok
    payload = http_receiver.requests[0].json()
    assert payload["title"] == message.title
    assert payload["type"] == "failure"
    assert payload["message"].splitlines()[-1] == alert.label_line()


async def test_form_webhook_gets_text_with_label_line_last(http_receiver: HttpReceiver) -> None:
    channel = AppriseChannel("form", f"form://127.0.0.1:{http_receiver.port}/form")
    alert, message = _message(channel)
    assert (await channel.send(message)).ok
    form = http_receiver.requests[0].form()
    assert form["message"].splitlines()[-1] == alert.label_line()


async def test_slack_plugin_posts_markdown_with_label_line(slack_receiver: HttpReceiver) -> None:
    """The real Slack plugin, pointed at loopback: mrkdwn body, label line in a code span."""
    channel = AppriseChannel("ml-slack", SLACK_URL)
    alert, message = _message(channel)
    assert channel.fmt == "markdown"
    assert channel.body_limit < 35_000
    assert (await channel.send(message)).ok
    (request,) = slack_receiver.requests
    assert request.path == "/services/T1ABCDEFG/B2HIJKLMN/abcdefghijklmnopqrstuvwx"
    text = request.json()["attachments"][0]["text"]
    assert text.splitlines()[-1] == f"`{alert.label_line()}`"
    assert "*Next step:*" in text


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (503, True),  # server error: transient
        (500, True),
        (429, True),  # rate limited: transient
        (408, True),  # request timeout: transient
        (404, False),  # webhook gone: permanent
        (401, False),  # bad credentials: permanent
        (400, False),
    ],
)
async def test_http_failures_are_classified(
    http_receiver: HttpReceiver, status: int, retryable: bool
) -> None:
    channel = AppriseChannel("hook", f"json://127.0.0.1:{http_receiver.port}/hook")
    http_receiver.answer_always(status)
    result = await channel.send(_message(channel)[1])
    assert not result.ok
    assert result.retryable is retryable
    assert result.error is not None and result.error.startswith(f"HTTP {status}")


async def test_connection_refused_is_transient() -> None:
    channel = AppriseChannel("hook", f"json://127.0.0.1:{free_port()}/hook")
    result = await channel.send(_message(channel)[1])
    assert (result.ok, result.retryable, result.error) == (False, True, "connection refused")


async def test_bad_smtp_password_is_permanent_and_not_leaked(smtp_receiver: SmtpReceiver) -> None:
    channel = AppriseChannel("ops-email", smtp_receiver.url(password="wrong-password-9"))
    result = await channel.send(_message(channel)[1])
    assert not result.ok and not result.retryable
    assert result.error is not None and result.error.startswith("SMTP 535")
    assert "wrong-password-9" not in result.error
    assert list(smtp_receiver) == []


def test_unusable_urls_are_reported_without_secrets() -> None:
    assert check_url(SLACK_URL) is None
    problem = check_url("slack://only-one-token-secretvalue")
    assert problem is not None and "secretvalue" not in problem
    assert check_url("nosuchservice://x") is not None
    with pytest.raises(ValueError, match="cannot use"):
        AppriseChannel("bad", "nosuchservice://token")


def test_privacy_url_masks_secrets() -> None:
    shown = privacy_url("mailto://ftmon:hunter2hunter2@127.0.0.1:2525/?to=a@example.com")
    assert "hunter2" not in shown and shown.startswith("mailto://")
    assert "abcdefghijklmnopqrstuvwx" not in privacy_url(SLACK_URL)


@pytest.mark.parametrize(
    ("logged", "expected"),
    [
        # the status code from apprise's warning decides
        ([("WARNING", "Failed to send JSON POST notification: Not Found - error=404.")],
         (False, "HTTP 404 Not Found")),
        ([("WARNING", "Failed to send to Slack: Too Many Requests - error=429.")],
         (True, "HTTP 429 Too Many Requests")),
        # SMTP reply codes come from apprise's debug line: 5xx permanent, 4xx transient
        ([("DEBUG", "Socket Exception: (535, b'5.7.8 Authentication failed')")],
         (False, "SMTP 535 5.7.8 Authentication failed")),
        ([("DEBUG", "Socket Exception: (421, b'4.7.0 Try again later')")],
         (True, "SMTP 421 4.7.0 Try again later")),
        ([("DEBUG", "Socket Exception: [Errno 111] Connection refused")],
         (True, "connection refused")),
        ([("WARNING", "There are no Email recipients to notify")],
         (False, "no email recipients in the URL")),
        # nothing recognizable: retry, quoting only a warning line
        ([("DEBUG", "POST https://hooks/secret"), ("WARNING", "Something odd")],
         (True, "send failed: Something odd")),
    ],
)  # fmt: skip
def test_classify_table(logged: list[tuple[str, str]], expected: tuple[bool, str]) -> None:
    assert classify(logged) == expected
