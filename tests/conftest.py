"""Suite-wide fixtures: logging isolation (a test that configures logging must not change
what the next test's logs look like), real receivers on loopback with apprise pointed
at them, and stores on both backends (PostgreSQL on a throwaway server)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from monitor.delivery.channels import check_url
from monitor.storage.base import Store
from monitor.storage.postgresql import PgStore
from monitor.storage.sqlite import SqliteStore
from tests import pgserver
from tests.pgserver import PgServer
from tests.receivers import HttpReceiver, SmtpReceiver


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


check_url("json://localhost")  # loads apprise's plugins the way channels.py does
from apprise.plugins.email.base import NotifyEmail  # noqa: E402
from apprise.plugins.slack import NotifySlack  # noqa: E402


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def smtp_receiver(no_apprise_throttle: None) -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def slack_receiver(
    http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch, no_apprise_throttle: None
) -> HttpReceiver:
    """apprise's real Slack plugin, its webhook base URL pointed at the local receiver.

    The plugin builds `{webhook_url}/{token_a}/{token_b}/{token_c}`; the class attribute is
    the only seam it offers. Everything else (payload, mrkdwn conversion, the `ok` answer
    check) is the plugin's own code.
    """
    monkeypatch.setattr(NotifySlack, "webhook_url", f"{http_receiver.url}/services")
    return http_receiver


@pytest.fixture
def no_apprise_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """apprise sleeps between sends to one target (5.5 s for email, 1.2 s for Slack);
    the tests send several messages in a row and need none of that."""
    monkeypatch.setattr(NotifyEmail, "request_rate_per_sec", 0)
    monkeypatch.setattr(NotifySlack, "request_rate_per_sec", 0)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway PostgreSQL server for the session (never the machine's own)."""
    bindir = pgserver.binaries()
    if bindir is None:
        pytest.skip(pgserver.SKIP_REASON)
    server = PgServer(bindir)
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database on the throwaway server, for one test."""
    return pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on each backend in turn: what runs on one runs on both."""
    s: Store = (
        SqliteStore(tmp_path / "state.db")
        if request.param == "sqlite"
        else PgStore(request.getfixturevalue("pg_url"))
    )
    yield s
    s.close()
