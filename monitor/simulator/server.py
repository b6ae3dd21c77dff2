"""The HTTP side: a threading HTTP/1.1 server with keep-alive on loopback.

Per request: read it, answer `/_sim/` control calls directly (no auth, not counted), else
match a provider route, let the faults decide (delay, error answer, or a damaged body),
serve, send with a Content-Length, and count it. `stop()` closes idle keep-alive
connections too, so no thread or socket outlives the simulator.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .api import Api, Reply, match, provider_of
from .faults import BODY_FAULTS, Faults, Stats

Control = Callable[[str, str, bytes], Reply]


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server for loopback peers that may be killed mid-request."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (a killed ftmon, a test's timeout) is normal."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class SimServer(QuietServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog is 5: a client opening more connections at once
    # (a pool of 16) had the rest of its SYNs dropped and retried a second later.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        api: Api,
        faults: Faults,
        stats: Stats,
        clock: Callable[[], float],
        control: Control,
    ) -> None:
        self.api = api
        self.faults = faults
        self.stats = stats
        self.clock = clock
        self.control = control
        self.stopping = threading.Event()  # wakes requests held by latency or a slow fault
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self, wait: float = 2.0) -> None:
        """Shut every open connection down and wait (a little) for its thread to finish."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self._conns_lock:
                if not self._conns:
                    return
            time.sleep(0.01)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimServer
    server_version = "ftmon-simulator"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and
        # delayed ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, alive=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the stats are the log."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server = self.server
        if url.path.startswith("/_sim/"):
            self._send(server.control(method, url.path, body), None, None)
            return
        found = match(method, url.path)
        provider = found[0].provider if found else provider_of(url.path)
        route = f"{method} {found[0].template}" if found else f"{method} (unmatched)"
        job = found[1].get("id") if found else None
        plan = server.faults.plan(provider, url.path)
        delay = server.faults.latency + plan.delay
        if delay > 0 and server.stopping.wait(delay):
            self.close_connection = True  # shutting down: leave without an answer
            return
        rule = plan.rule
        if rule is not None and rule.kind not in BODY_FAULTS:
            reply = server.api.fault(provider, rule)
        elif found is None:
            reply = server.api.unmatched(method, url.path)
        else:
            query = dict(parse_qsl(url.query))
            auth = self.headers.get("Authorization")
            try:
                reply = server.api.serve(found[0], found[1], query, auth, server.clock())
            except Exception as exc:  # a simulator bug: answer, and say so on stderr
                traceback.print_exc()
                reply = server.api.internal_error(provider, exc)
        damage = rule.kind if rule is not None and rule.kind in BODY_FAULTS else None
        self._send(reply, damage, route, job)

    def _send(
        self, reply: Reply, damage: str | None, route: str | None, job: str | None = None
    ) -> None:
        """Send `reply` (damaged as the fault says); count it first, so a client that has
        its answer always finds it in the stats."""
        body = reply.body
        if damage == "truncate":
            body = body[: len(body) // 2]
        elif damage == "malformed":
            body = b'{"data": [' + body[1:] if body.startswith(b"{") else b"{" + body
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        part = body[: len(body) // 2] if damage == "drop" else body
        if route is not None:
            self.server.stats.record(route, reply.status, len(part), job)
        self.end_headers()
        if damage == "drop":
            self.wfile.write(part)
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


class ServerThread:
    """Runs a `SimServer` in a background thread."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
            name="ftmon-simulator",
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.close_connections()
        self.server.server_close()
        self._thread.join(timeout=5)
