"""The web server's connection guard: uvicorn's h11 protocol with the limits it lacks.

uvicorn times a connection out only when it sits idle *after* a response. A client that
connects and sends nothing, or a request head one byte at a time, is kept for ever, and
`limit_concurrency` answers 503 to everybody once such connections fill it: a few hundred
idle sockets would turn `/healthz` red and the orchestrator would restart a healthy
monitor. This protocol adds, per connection:

- a head deadline: a connection whose request head is not complete `timeout` seconds
  after it opened is closed (slowloris);
- a lifetime bound: no connection outlives `LIFETIME_FACTOR x timeout`, whatever it does;
- a cap that evicts rather than refuses: at `max_connections` the oldest connection still
  waiting for its head is closed to make room, so idle connections can never lock a probe
  out; only when every connection has a request in flight is the newcomer turned away;
- 431 for a request head over `max_head_bytes` (uvicorn would take it, or answer 400), and
  a quiet 400 for garbage: each is counted through `on_drop`, never logged per request.

Every response says `Connection: close` (see `web`), so one connection is one request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

LIFETIME_FACTOR = 4
_QUIET = logging.getLogger("ftmon.web.http")
_QUIET.setLevel(logging.ERROR)  # uvicorn warns once per malformed request: we count instead

DropReason = str  # timeout | evicted | refused | too_large | malformed


def _ignore(_reason: DropReason) -> None:
    return None


@dataclass(slots=True)
class Limits:
    """What one connection may take; the server's attributes write through to it."""

    timeout: float = 5.0
    max_head_bytes: int = 8192
    max_connections: int = 128
    on_drop: Callable[[DropReason], None] = field(default=_ignore)


class Guard:
    """The open connections of one server, oldest first, and the limits they share."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: dict[GuardedH11Protocol, None] = {}  # insertion order: oldest first

    def admit(self, conn: GuardedH11Protocol) -> bool:
        """Room for `conn`, evicting the oldest connection still waiting for its head."""
        if len(self.open) >= self.limits.max_connections:
            idle = next((c for c in self.open if c.waiting_for_head), None)
            if idle is None:
                self.limits.on_drop("refused")
                return False
            idle.drop("evicted")
        self.open[conn] = None
        return True

    def release(self, conn: GuardedH11Protocol) -> None:
        self.open.pop(conn, None)

    def protocol(self) -> type[GuardedH11Protocol]:
        """A protocol class bound to this guard, for uvicorn's `Config(http=...)`."""
        return type("BoundGuardedH11Protocol", (GuardedH11Protocol,), {"guard": self})


class GuardedH11Protocol(H11Protocol):
    guard: ClassVar[Guard]
    _head: bytearray | None = None
    _timers: tuple[asyncio.TimerHandle, ...] = ()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.logger = _QUIET
        if not self.guard.admit(self):
            transport.abort()
            return
        self._head = bytearray()
        timeout = self.guard.limits.timeout
        self._timers = (
            self.loop.call_later(timeout, self._head_deadline),
            self.loop.call_later(timeout * LIFETIME_FACTOR, self.drop, "timeout"),
        )

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self._timers:
            timer.cancel()
        self.guard.release(self)
        super().connection_lost(exc)

    @property
    def waiting_for_head(self) -> bool:
        return self._head is not None

    def data_received(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            head += data
            end, limit = head.find(b"\r\n\r\n"), self.guard.limits.max_head_bytes
            if end > limit or (end < 0 and len(head) > limit):
                self._refuse(431, "request head too large", "too_large")
                return
            if end >= 0:
                self._head = None
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """h11 could not parse the request: a plain 400, counted, not logged."""
        self._refuse(400, "malformed request", "malformed")

    def drop(self, reason: DropReason) -> None:
        """Close this connection now (a deadline passed, or room is needed)."""
        if not self.transport.is_closing():
            self.guard.limits.on_drop(reason)
            if reason == "evicted":
                self.transport.abort()
            else:
                self.transport.close()
        self.guard.release(self)

    def _head_deadline(self) -> None:
        if self.waiting_for_head:
            self.drop("timeout")

    def _refuse(self, status: int, text: str, reason: DropReason) -> None:
        self._head = None
        self.guard.limits.on_drop(reason)
        body = f"{text}\n".encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)
        self.transport.close()
