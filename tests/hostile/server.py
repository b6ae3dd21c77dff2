"""A hostile HTTP peer on loopback: a provider or a receiver that misbehaves on purpose.

One threaded server answers every request from a script keyed by path (longest prefix
wins): any status, any headers, any body, sent whole, trickled a few bytes at a time,
generated without end, or after a delay. It records what it was sent. It is what an
attacker (or a broken proxy) in front of an API or a webhook could do; the simulator
stays a faithful fake, this one is not.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from monitor.simulator.server import QuietServer

Body = bytes | Callable[[], Iterable[bytes]]


@dataclass
class Answer:
    """What the server sends back: `body` may be a generator (huge or endless bodies)."""

    status: int = 200
    body: Body = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    trickle: float = 0.0  # between chunks of `chunk` bytes
    chunk: int = 0  # 0: the whole body at once
    length: int | None = None  # Content-Length to announce (None: the body's own)
    close: bool = False  # close the connection once the body is sent (cut it short)

    @classmethod
    def json(cls, value: object, status: int = 200, **kw: Any) -> Answer:
        return cls(status=status, body=json.dumps(value).encode(), **kw)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HostileServer:
    """`answer(prefix, Answer | callable)`; unknown paths get 404. Use as a context manager."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._routes: dict[str, Callable[[Seen], Answer]] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = self._make()
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,))
        self._thread.daemon = True
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, prefix: str, reply: Answer | Callable[[Seen], Answer]) -> None:
        with self._lock:
            self._routes[prefix] = reply if callable(reply) else (lambda _seen: reply)

    def requests(self, prefix: str = "/") -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.startswith(prefix)]

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _route(self, seen: Seen) -> Answer:
        with self._lock:
            self.seen.append(seen)
            prefixes = sorted((p for p in self._routes if seen.path.startswith(p)), key=len)
            route = self._routes[prefixes[-1]] if prefixes else None
        return route(seen) if route else Answer.json({"error": {"message": "no route"}}, 404)

    def _make(self) -> QuietServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
                owner._send(self, owner._route(seen))

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = QuietServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        return server

    def _send(self, handler: BaseHTTPRequestHandler, answer: Answer) -> None:
        if answer.delay and self.stopping.wait(answer.delay):
            return
        chunks = _chunks(answer)
        body = answer.body if isinstance(answer.body, bytes) else None
        handler.send_response(answer.status)
        for name, value in {"Content-Type": "application/json", **answer.headers}.items():
            handler.send_header(name, value)
        if answer.length is not None or body is not None:
            size = answer.length if answer.length is not None else len(body or b"")
            handler.send_header("Content-Length", str(size))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        handler.close_connection = handler.close_connection or answer.close
        for piece in chunks:
            if self.stopping.is_set():
                return
            handler.wfile.write(piece)
            handler.wfile.flush()
            if answer.trickle and self.stopping.wait(answer.trickle):
                return


def _chunks(answer: Answer) -> Iterator[bytes]:
    source = [answer.body] if isinstance(answer.body, bytes) else answer.body()
    for block in source:
        if not answer.chunk:
            yield block
            continue
        for start in range(0, len(block), answer.chunk):
            yield block[start : start + answer.chunk]
