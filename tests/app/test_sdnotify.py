"""The notify protocol against real AF_UNIX datagram sockets, as systemd listens."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.app.sdnotify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound to a path, like /run/systemd/notify."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        yield sock, str(path)


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_messages_arrive_as_systemd_expects(listener: tuple[socket.socket, str]) -> None:
    """READY, STATUS, WATCHDOG and STOPPING each arrive as one datagram of KEY=value lines."""
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready(status="polling 2 providers")
    assert received(sock) == ["READY=1", "STATUS=polling 2 providers"]
    assert notifier.status("cycle ok\n3 jobs tracked")
    assert received(sock) == ["STATUS=cycle ok 3 jobs tracked"]
    assert notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1"]
    assert notifier.stopping()
    assert received(sock) == ["STOPPING=1"]


def test_reloading_carries_a_monotonic_timestamp(listener: tuple[socket.socket, str]) -> None:
    """RELOADING=1 comes with MONOTONIC_USEC from the injected monotonic clock."""
    sock, path = listener
    notifier = Notifier(path, monotonic_usec=lambda: 123456789)
    assert notifier.reloading()
    assert received(sock) == ["RELOADING=1", "MONOTONIC_USEC=123456789"]


def test_reloading_uses_clock_monotonic_by_default(listener: tuple[socket.socket, str]) -> None:
    """Without an injected clock the stamp is CLOCK_MONOTONIC in microseconds."""
    sock, path = listener
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    Notifier(path).reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    kind, stamp = received(sock)
    assert kind == "RELOADING=1"
    assert before <= int(stamp.removeprefix("MONOTONIC_USEC=")) <= after


def test_abstract_namespace_socket() -> None:
    """`@name` addresses the Linux abstract namespace (a leading NUL byte)."""
    name = f"ftmon-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert received(sock) == ["READY=1"]


@pytest.mark.parametrize("value", [None, "", "relative/path", "vsock:2:1234", "@"])
def test_no_socket_is_a_no_op(value: str | None) -> None:
    """Without a usable NOTIFY_SOCKET every call does nothing and says so."""
    env = {} if value is None else {"NOTIFY_SOCKET": value}
    notifier = Notifier.from_env(env)
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert not notifier.stopping()
    assert not notifier.reloading()
    assert not notifier.status("x")
    assert notifier.watchdog_interval() is None


def test_a_vanished_socket_is_logged_not_raised(tmp_path: Path) -> None:
    """systemd going away is a debug log line, never an exception in the daemon."""
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with capture_logs() as logs:
        assert not notifier.ready()
    assert logs[0]["event"] == "sd_notify_failed"
    assert logs[0]["log_level"] == "debug"
    assert logs[0]["error"] == "FileNotFoundError"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 60.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "4242"}, 60.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(
    listener: tuple[socket.socket, str], env: dict[str, str], expected: float | None
) -> None:
    """Ping at half of WatchdogSec, and only when the watchdog is meant for this process."""
    _sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path, **env}, pid=4242)
    assert notifier.watchdog_interval() == expected


def test_watchdog_pid_defaults_to_this_process(listener: tuple[socket.socket, str]) -> None:
    """WATCHDOG_PID is compared with os.getpid() unless a pid is given."""
    _sock, path = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_env(env).watchdog_interval() == 1.0
