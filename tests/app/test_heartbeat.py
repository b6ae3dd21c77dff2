"""The dead man's switch against a real HTTP receiver on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from structlog.testing import capture_logs

from monitor.app import heartbeat
from monitor.app.heartbeat import fail_url, is_healthchecks_url, ping
from monitor.core.settings import Secret

TOKEN = "0b3f6c1e-5d7a-4e2b-9c8d-2f1a3b4c5d6e"


class Receiver:
    """Records request paths; answers `status` after `delay` seconds."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                receiver.paths.append(self.path)
                time.sleep(receiver.delay)
                body = b"OK"
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (the timeout test)
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
    r.thread.join()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as http:
        yield http


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_successful_cycle_pings_the_url(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    """ok=True: one GET of the URL as configured, query string included."""
    url = receiver.url(f"/ping/{TOKEN}?rid=7")
    assert await ping(client, Secret(url), ok=True)
    assert receiver.paths == [f"/ping/{TOKEN}?rid=7"]


async def test_a_failed_cycle_pings_fail_on_a_healthchecks_url(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    """ok=False on a Healthchecks-style URL: GET <url>/fail."""
    assert await ping(client, Secret(receiver.url(f"/ping/{TOKEN}")), ok=False)
    assert receiver.paths == [f"/ping/{TOKEN}/fail"]


async def test_a_failed_cycle_is_silent_elsewhere(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    """ok=False on any other service: no request at all (its silence is the alarm)."""
    assert not await ping(client, Secret(receiver.url(f"/api/push/{TOKEN}")), ok=False)
    assert receiver.paths == []


async def test_a_dead_receiver_neither_raises_nor_leaks(client: httpx.AsyncClient) -> None:
    """Connection refused: False, and a log line with the error type but not the URL."""
    url = f"http://127.0.0.1:{free_port()}/ping/{TOKEN}"
    with capture_logs() as logs:
        assert not await ping(client, Secret(url), ok=True)
    assert logs == [
        {"event": "heartbeat_failed", "log_level": "warning", "ok": True, "error": "ConnectError"}
    ]
    assert TOKEN not in repr(logs)


async def test_an_error_status_is_logged_without_the_url(
    receiver: Receiver, client: httpx.AsyncClient
) -> None:
    """A 5xx answer is a failed ping, logged with its status only."""
    receiver.status = 503
    with capture_logs() as logs:
        assert not await ping(client, Secret(receiver.url(f"/ping/{TOKEN}")), ok=False)
    assert [(e["event"], e["status"]) for e in logs] == [("heartbeat_failed", 503)]
    assert TOKEN not in repr(logs)
    assert str(receiver.port) not in repr(logs)


async def test_a_slow_receiver_times_out(
    receiver: Receiver, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ping gives up after its timeout instead of holding up the daemon."""
    monkeypatch.setattr(heartbeat, "TIMEOUT", 0.1)
    receiver.delay = 0.5
    with capture_logs() as logs:
        assert not await ping(client, Secret(receiver.url(f"/ping/{TOKEN}")), ok=True)
    assert logs[0]["error"] == "ReadTimeout"
    assert TOKEN not in repr(logs)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://hc-ping.com/{TOKEN}", True),  # the hosted service
        ("https://hc-ping.com/ping-key/backup-slug", True),  # slug URLs
        (f"https://eu.hc-ping.com/{TOKEN}", True),  # a subdomain
        (f"https://hc.example.com/ping/{TOKEN}", True),  # self-hosted Healthchecks
        ("https://hc.example.com/ping/", False),  # no check named
        (f"https://uptime.example.com/api/push/{TOKEN}", False),  # Uptime Kuma
        (f"https://cronitor.link/p/key/{TOKEN}", False),  # other services
        (f"https://hc-ping.com.evil.example/{TOKEN}", False),  # look-alike host
    ],
)
def test_healthchecks_urls_are_recognised(url: str, expected: bool) -> None:
    """Only Healthchecks-compatible URLs get a /fail ping."""
    assert is_healthchecks_url(url) is expected


def test_fail_url_keeps_the_query() -> None:
    """/fail goes on the path, before the query string; a trailing slash is not doubled."""
    assert (
        fail_url(f"https://hc-ping.com/{TOKEN}/?rid=1") == f"https://hc-ping.com/{TOKEN}/fail?rid=1"
    )
