"""`/healthz`, `/readyz` and `/metrics` over a small HTTP/1.1 server on anyio streams.

    /healthz  200 "ok" while the last successful cycle is younger than `max_age`
              (3 x poll_interval + 60s by default; before the first success, during a
              start grace of the same length), else 503 and a one-line reason
    /readyz   200 once the store is open and a first cycle completed; 503 while stopping
    /metrics  the Prometheus exposition of `Metrics.render()`

GET and HEAD only (405 otherwise), other paths 404, one request per connection, the
request head bounded in size and the exchange in time; no endpoint shows configuration.
`python -m monitor.app.web --check [URL]` is the container HEALTHCHECK (exit 0 on a 200).
"""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from functools import partial
from http import HTTPStatus
from urllib.parse import urlsplit

import anyio
import structlog
from anyio.abc import Listener, SocketAttribute, SocketListener, SocketStream, TaskGroup, TaskStatus
from anyio.streams.stapled import MultiListener

from monitor.app.metrics import Metrics

Clock = Callable[[], datetime]
log = structlog.get_logger(__name__)

HEALTHCHECK_ENV = "FTMON_HEALTHCHECK_URL"
DEFAULT_HEALTHCHECK_URL = "http://127.0.0.1:9464/healthz"
_TEXT = "text/plain; charset=utf-8"
_Listeners = MultiListener[SocketStream]
_UTC_NOW: Clock = partial(datetime.now, UTC)  # tests inject the daemon's own clock


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str


class HealthState:
    """What the daemon tells the endpoints; `max_age` may change on reload."""

    def __init__(self, *, max_age: timedelta, clock: Clock = _UTC_NOW) -> None:
        self.max_age = max_age
        self._clock, self._started = clock, clock()
        self._last_success: datetime | None = None
        self._failed_since_success = self._cycles = 0
        self._ready = self._stopping = False

    @classmethod
    def for_interval(cls, poll_interval: timedelta, *, clock: Clock = _UTC_NOW) -> HealthState:
        return cls(max_age=3 * poll_interval + timedelta(seconds=60), clock=clock)

    def mark_cycle(self, now: datetime, ok: bool) -> None:
        """A poll finished at `now`; `ok` if it succeeded (the daemon's unit of success)."""
        self._cycles += 1
        self._last_success = now if ok else self._last_success
        self._failed_since_success = 0 if ok else self._failed_since_success + 1

    def mark_ready(self) -> None:
        """The store is open: /readyz turns 200 once a first cycle has completed too."""
        self._ready = True

    def mark_stopping(self) -> None:
        """Shutting down (draining the outbox): /readyz answers 503 from now on."""
        self._stopping = True

    def liveness(self) -> Verdict:
        since, bound = self._last_success or self._started, self.max_age.total_seconds()
        age = (self._clock() - since).total_seconds()
        if age <= bound:
            return Verdict(True, "ok")
        what = "last successful cycle" if self._last_success else "no successful cycle; started"
        failed = self._failed_since_success
        return Verdict(False, f"{what} {age:.0f}s ago (max {bound:.0f}s); {failed} failed since")

    def readiness(self) -> Verdict:
        if self._stopping:
            return Verdict(False, "stopping")
        if not self._ready:
            return Verdict(False, "state store not open yet")
        if self._cycles == 0:
            return Verdict(False, "first poll cycle not completed yet")
        return Verdict(True, "ok")


def parse_listen(listen: str) -> tuple[str, int]:
    """`"127.0.0.1:9464"`, `"[::1]:9464"`, `"localhost:0"` -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f'expected "host:port" or "[v6]:port", got {listen!r}')
    return host, int(port)


class _HttpError(Exception):
    """(status, reason): the request cannot be served."""


class HealthServer:
    """Serves the three endpoints on `listen` until stopped.

    `await server.start()` ... `await server.stop()` (from any task), `async with`, or
    `await task_group.start(server.serve)`. `port` is the bound port once started.
    """

    timeout = 5.0  # seconds for one whole exchange
    max_request_bytes = 8192
    max_connections = 64

    def __init__(self, listen: str, metrics: Metrics, health: HealthState) -> None:
        self.listen = listen
        self.host, self.port = parse_listen(listen)
        self._metrics, self._health, self._active = metrics, health, 0
        self._task: asyncio.Task[None] | None = None
        self._listener: _Listeners | None = None

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        """Bind, report the port through `task_status`, and serve until cancelled."""
        await self._run(await self._bind(), task_status)

    async def start(self) -> None:
        """Bind (raising OSError if that fails), then serve in a background asyncio task."""
        if self._task is not None:
            raise RuntimeError("HealthServer already started")
        self._listener = await self._bind()
        self._task = asyncio.create_task(self._run(self._listener, anyio.TASK_STATUS_IGNORED))

    async def stop(self) -> None:
        """Close the listener and every open connection; wait until they are gone."""
        task, listener, self._task, self._listener = self._task, self._listener, None, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                log.error("web_server_failed", error=repr(task.exception()))
        if listener is not None:  # a task cancelled before it ran never closed it
            await listener.aclose()

    async def _bind(self) -> _Listeners:
        multi = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        self.port = multi.listeners[0].extra(SocketAttribute.local_port)  # noqa: S610
        log.info("web_listening", host=self.host, port=self.port)
        return multi

    async def _run(self, multi: _Listeners, task_status: TaskStatus[int]) -> None:
        async with multi, anyio.create_task_group() as tg:
            for listener in multi.listeners:
                tg.start_soon(self._accept_loop, listener, tg)
            task_status.started(self.port)

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _accept_loop(self, listener: Listener[SocketStream], tg: TaskGroup) -> None:
        assert isinstance(listener, SocketListener)
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:  # e.g. out of file descriptors: back off, keep serving
                log.warning("web_accept_failed", error=type(exc).__name__)
                await anyio.sleep(0.5)
                continue
            if self._active >= self.max_connections:
                await stream.aclose()
                continue
            self._active += 1
            tg.start_soon(self._connection, stream)

    async def _connection(self, stream: SocketStream) -> None:
        try:
            async with stream:
                with anyio.fail_after(self.timeout):
                    await self._exchange(stream)
        except TimeoutError:
            log.debug("web_request_timeout")
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        except Exception:  # one bad request must never stop the server
            log.exception("web_request_failed")
        finally:
            self._active -= 1

    async def _exchange(self, stream: SocketStream) -> None:
        head_only = False
        try:
            method, path = _request_line(await self._read_head(stream))
            head_only = method == "HEAD"
            response = self._route(path)
        except _HttpError as exc:
            status, reason = exc.args
            extra = (("Allow", "GET, HEAD"),) if status == 405 else ()
            response = _response(status, f"{reason}\n".encode(), _TEXT, extra)
        await stream.send(response[0] if head_only else response[0] + response[1])
        await stream.send_eof()
        with anyio.move_on_after(1.0):  # lingering close: let the client read, then hang up
            while await stream.receive():
                pass

    async def _read_head(self, stream: SocketStream) -> bytes:
        buf = bytearray()
        while (end := buf.find(b"\r\n\r\n")) < 0 and len(buf) <= self.max_request_bytes:
            buf += await stream.receive(4096)
        if not 0 <= end <= self.max_request_bytes:
            raise _HttpError(431, "request head too large")
        return bytes(buf[:end])

    def _route(self, path: str) -> tuple[bytes, bytes]:
        if path in ("/healthz", "/readyz"):
            verdict = self._health.liveness() if path == "/healthz" else self._health.readiness()
            body = verdict.reason.encode() + b"\n"
            return _response(200 if verdict.ok else 503, body, _TEXT)
        if path == "/metrics":
            try:
                body = self._metrics.render()
            except Exception:
                log.exception("metrics_render_failed")
                return _response(500, b"metrics unavailable\n", _TEXT)
            return _response(200, body, self._metrics.content_type)
        return _response(404, b"not found\n", _TEXT)


def _request_line(head: bytes) -> tuple[str, str]:
    """The method and path of `GET /path?query HTTP/1.1`; 400 or 405 when unusable."""
    line = head.split(b"\r\n", 1)[0]
    try:
        method, target, version = line.decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise _HttpError(400, "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise _HttpError(400, "only HTTP/1.x is served")
    if method not in ("GET", "HEAD"):
        raise _HttpError(405, "only GET and HEAD are allowed")
    path = urlsplit(target).path if "://" in target else target.split("?", 1)[0]
    if not path.startswith("/"):
        raise _HttpError(400, "malformed request target")
    return method, path


def _response(
    status: int, body: bytes, content_type: str, extra: Sequence[tuple[str, str]] = ()
) -> tuple[bytes, bytes]:
    """(head, body) of a complete response; the caller drops the body for HEAD."""
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nDate: {formatdate(usegmt=True)}\r\n"
        f"Server: ftmon\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"
    )
    head += "".join(f"{k}: {v}\r\n" for k, v in extra)
    return (head + "\r\n").encode("latin-1"), body


def check(url: str, timeout: float = 5.0) -> int:
    """GET `url` (never through a proxy); 0 when it answers 200, else 1. Prints one line."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("not an http(s) URL")
        with opener.open(url, timeout=timeout) as response:
            status, body = response.status, response.read(512)
    except urllib.error.HTTPError as exc:
        with exc:
            status, body = exc.code, exc.read(512)
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {type(exc).__name__}: {exc}")
        return 1
    text = body.decode("utf-8", "replace").strip()
    print(f"{'healthy' if status == 200 else 'unhealthy'}: HTTP {status} {text}")
    return 0 if status == 200 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m monitor.app.web --check [URL]`; URL defaults to $FTMON_HEALTHCHECK_URL."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not 1 <= len(args) <= 2 or args[0] != "--check":
        print("usage: python -m monitor.app.web --check [URL]", file=sys.stderr)
        return 2
    default = os.environ.get(HEALTHCHECK_ENV) or DEFAULT_HEALTHCHECK_URL
    return check(args[1] if len(args) == 2 else default)


if __name__ == "__main__":
    sys.exit(main())
