"""The real daemon under hostile clients and a hostile provider: idle connections cannot
starve /healthz, and SIGTERM ends it within its bound."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.harness import ftmon_env
from tests.hostile.payloads import KEY, job, serve_together
from tests.hostile.server import Answer, HostileServer
from tests.hostile.test_hostile_once import GOOD_KEY, write_config
from tests.receivers import free_port
from tests.reliability import kit

NOW = datetime(2026, 3, 16, 10, 0, tzinfo=UTC)
IDLE = 70  # the probe: more than a 64-connection cap, each sending one byte
STOP_BOUND = 30.0  # seconds SIGTERM may take whatever a provider or receiver does


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return int(answer.status)
    except OSError:
        return 0


def test_idle_connections_do_not_starve_healthz_and_sigterm_is_bounded(
    server: HostileServer, tmp_path: Path
) -> None:
    """70 connections that send one byte and stay silent: /healthz still answers 200 from
    the real daemon; then SIGTERM while `bad` holds its answer back ends it in time."""
    serve_together(server, "/good", job("ft-good"))
    server.answer("/bad/fine-tunes", Answer(body=b'{"data": []}', delay=600))
    server.answer("/hook", Answer(body=b"ok"))
    port = free_port()
    config = write_config(tmp_path, server)
    config.write_text(
        config.read_text().replace("[monitor]\n", f'[monitor]\nlisten = "127.0.0.1:{port}"\n')
    )
    env = ftmon_env(GOOD_KEY=GOOD_KEY, BAD_KEY=KEY)
    log = tmp_path / "daemon.log"
    with log.open("wb") as sink:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "tests.entry", "run", "-c", str(config)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    idle: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while healthz(port) != 200:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        for _ in range(IDLE):
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            conn.sendall(b"G")
            idle.append(conn)
        assert healthz(port) == 200
    finally:
        daemon.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        try:
            code = daemon.wait(timeout=STOP_BOUND)
            stopped_in = time.monotonic() - asked
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
            for conn in idle:
                conn.close()
    assert code == 0
    assert KEY not in log.read_text() and GOOD_KEY not in log.read_text()
    kit.record("hostile_daemon", idle_connections=IDLE, sigterm_seconds=round(stopped_in, 1))
