"""The systemd notify protocol, spoken directly: one datagram per message, no dependency.

    $NOTIFY_SOCKET   "/run/systemd/notify" (a path) or "@name" (the abstract namespace);
                     unset, empty or anything else (e.g. vsock): every call is a no-op
    $WATCHDOG_USEC   the unit's WatchdogSec in microseconds; ping at half that rate
    $WATCHDOG_PID    when set, the watchdog is meant for that process only

The daemon calls `ready()` once it serves, `status(text)` when there is news,
`watchdog()` every `watchdog_interval()` seconds from the loop that does the work,
`reloading()` on SIGHUP then `ready()` when the reload is done (or rejected), and
`stopping()` on SIGTERM. A failed send is logged at debug and never raised: systemd
going away must not take the monitor down with it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger(__name__)


def _monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class Notifier:
    """Sends notify messages to `address` (None: a no-op notifier)."""

    def __init__(
        self,
        address: str | None,
        *,
        watchdog_usec: int | None = None,
        monotonic_usec: Callable[[], int] = _monotonic_usec,
    ) -> None:
        self.address = address
        self._watchdog_usec = watchdog_usec
        self._monotonic_usec = monotonic_usec

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, pid: int | None = None) -> Notifier:
        """Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (compared with `pid`)."""
        raw = env.get("NOTIFY_SOCKET", "")
        address = raw if raw.startswith(("/", "@")) and len(raw) > 1 else None
        if raw and address is None:
            log.debug("sd_notify_unsupported_socket")
        return cls(address, watchdog_usec=_watchdog_usec(env, os.getpid() if pid is None else pid))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between `watchdog()` calls: half of WATCHDOG_USEC; None when off."""
        if self._watchdog_usec is None or not self.enabled:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *_status(status))

    def status(self, text: str) -> bool:
        return self.notify(*_status(text))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *_status(status))

    def reloading(self, status: str | None = None) -> bool:
        """RELOADING=1 with MONOTONIC_USEC, as systemd 253+ expects; older ones ignore it."""
        stamp = f"MONOTONIC_USEC={self._monotonic_usec()}"
        return self.notify("RELOADING=1", stamp, *_status(status))

    def notify(self, *fields: str) -> bool:
        """Send `KEY=value` lines as one datagram; True when sent, False when off or failed."""
        if self.address is None or not fields:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never wait: the send runs on the event loop, and a manager whose queue
                # is full (Linux queues 10 datagrams) must not stall polls; a ping lost
                # then is harmless, the next one follows.
                sock.setblocking(False)
                sock.connect(target)
                sock.sendall("\n".join(fields).encode("utf-8"))
        except OSError as exc:
            log.debug("sd_notify_failed", error=type(exc).__name__, errno=exc.errno)
            return False
        return True


def _status(text: str | None) -> tuple[str, ...]:
    """STATUS= takes one line: newlines become spaces."""
    if text is None:
        return ()
    return ("STATUS=" + " ".join(text.splitlines()),)


def _watchdog_usec(env: Mapping[str, str], pid: int) -> int | None:
    usec, owner = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec)
