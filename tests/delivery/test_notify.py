"""`ftmon test-notify` through the real path: outbox, dispatcher, apprise, receivers."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.commands import test_notify as notify_cmd
from monitor.core.settings import (
    ChannelConfig,
    Config,
    MonitorSettings,
    RouteConfig,
    Secret,
    Thresholds,
)
from monitor.storage.sqlite import SqliteStore
from tests.receivers import HttpReceiver, SmtpReceiver


def _config(smtp: SmtpReceiver, hook: HttpReceiver) -> Config:
    return Config(
        file=Path("ftmon.toml"),
        monitor=MonitorSettings(),
        thresholds=Thresholds(),
        providers=(),
        channels=(
            ChannelConfig(name="ops-email", url=Secret(smtp.url())),
            ChannelConfig(name="hook", url=Secret(f"json://127.0.0.1:{hook.port}/hook")),
        ),
        routes=(RouteConfig(channels=("ops-email",), kinds=("monitor.*",)),),
    )


async def test_sample_reaches_every_channel(
    tmp_path: Path, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    """Routes do not matter: test-notify targets channels; both print `delivered`."""
    out = io.StringIO()
    code = await notify_cmd.test_notify(
        _config(smtp_receiver, http_receiver), tmp_path / "s.db", None, "job.cancelled", out=out
    )
    assert (code, out.getvalue()) == (0, "ops-email: delivered\nhook: delivered\n")
    (mail,) = list(smtp_receiver)
    assert "cancelled — billing limit reached" in mail.subject
    assert "This is a test message from ftmon test-notify" in mail.text()
    body = http_receiver.requests[0].json()["message"]
    assert body.splitlines()[-1].startswith("kind=job.cancelled severity=failure")


async def test_a_failing_channel_prints_its_error_and_exits_1(
    tmp_path: Path, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    http_receiver.answer_always(503)
    out = io.StringIO()
    path = tmp_path / "s.db"
    code = await notify_cmd.test_notify(
        _config(smtp_receiver, http_receiver), path, "hook", "job.succeeded", out=out
    )
    assert (code, out.getvalue()) == (1, "hook: failed: HTTP 503 Service Unavailable\n")
    assert list(smtp_receiver) == []
    store = SqliteStore(path)
    try:  # the test alert is not left behind for the daemon to send later
        assert store.outbox.due(datetime.now(UTC) + timedelta(days=2)) == []
    finally:
        store.close()


async def test_unknown_channel_or_kind_exits_1(
    tmp_path: Path, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    config = _config(smtp_receiver, http_receiver)
    path = tmp_path / "s.db"
    assert await notify_cmd.test_notify(config, path, "nope", "job.failed") == 1
    assert await notify_cmd.test_notify(config, path, None, "job.nope") == 1


async def test_the_new_monitor_kinds_have_realistic_samples(
    tmp_path: Path, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    """`monitor.api_changed`: the title names the new value, the body the example job and
    the next step, the label line is the provider's (no job)."""
    out = io.StringIO()
    code = await notify_cmd.test_notify(
        _config(smtp_receiver, http_receiver), tmp_path / "s.db", "hook", "monitor.api_changed",
        out=out,
    )  # fmt: skip
    assert (code, out.getvalue()) == (0, "hook: delivered\n")
    sent = http_receiver.requests[0].json()
    assert sent["title"] == "together-prod: API sent a new status: preempted"
    assert "first on job ft-test-" in sent["message"] and "upgrade ftmon" in sent["message"]
    label = sent["message"].splitlines()[-1]
    assert label == "kind=monitor.api_changed severity=warning provider=together-prod"


@pytest.mark.parametrize(
    ("kind", "title", "label", "body"),
    [
        ("monitor.budget",
         "together-prod: warning budget together-daily reached: $43.72 in ",
         "kind=monitor.budget severity=warning provider=together-prod",
         "net spend $43.72 reached the warning threshold $40.00"),
        ("monitor.cost_digest", "ftmon: cost on ",
         "kind=monitor.cost_digest severity=info provider=ftmon",
         "2 job(s): price not given"),
    ],
)  # fmt: skip
async def test_the_cost_kinds_have_realistic_samples(
    tmp_path: Path, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver,
    kind: str, title: str, label: str, body: str,
) -> None:  # fmt: skip
    """`monitor.budget` names the budget, the amounts and the next step; the digest its
    day, its amounts and the jobs without a price; each ends with its label line."""
    out = io.StringIO()
    code = await notify_cmd.test_notify(
        _config(smtp_receiver, http_receiver), tmp_path / "s.db", "hook", kind, out=out
    )
    assert (code, out.getvalue()) == (0, "hook: delivered\n")
    sent = http_receiver.requests[0].json()
    assert sent["title"].startswith(title)
    assert body in sent["message"]
    assert sent["message"].splitlines()[-1] == label


async def test_the_incident_sample_names_jobs_window_and_next_step(
    tmp_path: Path, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    """`monitor.provider_incident`: the title counts the jobs, the body names them, the
    window, the cause classes and what to do; the label line is the provider's, firing.
    test-notify is never held back, whatever incidents are firing."""
    out = io.StringIO()
    code = await notify_cmd.test_notify(
        _config(smtp_receiver, http_receiver), tmp_path / "s.db", "hook",
        "monitor.provider_incident", out=out,
    )  # fmt: skip
    assert (code, out.getvalue()) == (0, "hook: delivered\n")
    sent = http_receiver.requests[0].json()
    assert sent["title"] == "together-prod: provider incident: 7 jobs in trouble"
    message = sent["message"]
    assert "within 30m" in message and "ft-test-0006" in message
    assert "5 failed on the provider's side; 2 stuck in the queue" in message
    assert "status page" in message and "contact support with the job ids" in message
    assert message.splitlines()[-1] == (
        "kind=monitor.provider_incident severity=failure provider=together-prod state=firing"
    )
