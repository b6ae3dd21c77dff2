"""The web server: probes, metrics and OpenAI's webhooks, on Starlette served by uvicorn.

    GET  /healthz                     200 "ok" or 503 and a one-line reason (`health`)
    GET  /readyz                      200 once ready, 503 while starting or stopping
    GET  /metrics                     prometheus-client's own text exposition
    POST /webhooks/openai/{provider}  a signed OpenAI event (`webhooks`); 404 unless that
                                      provider has a `webhook_secret`

GET and HEAD on the probes (405 with `Allow` otherwise), other paths 404, a target that is
not a path 400. Every answer is plain text with `Connection: close`, `Cache-Control:
no-store` and `X-Content-Type-Options: nosniff`; none shows configuration, a secret or a
stack trace. Limits (`http_guard`): a request head of at most 8 KiB within `timeout`
seconds of connecting, a webhook body of at most 64 KiB within the same time, at most
`max_connections` open at once, idle ones evicted first.

Why Starlette on uvicorn: both are the most used, best kept pieces of the Python ASGI
world; uvicorn's h11 protocol is pure Python (h11 is already here through httpx) and runs
inside the daemon's own asyncio loop, so a webhook hands its nudge to the poll scheduler
without threads or queues. The daemon owns the signals (`capture_signals` is a no-op) and
binds the sockets itself, so a taken port fails `start()` with the OSError.
`python -m monitor.app.web --check [URL]` is the container HEALTHCHECK (exit 0 on a 200).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

import anyio
import structlog
import uvicorn
from anyio.abc import TaskStatus
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.app.health import HealthState as HealthState
from monitor.app.health import Verdict as Verdict
from monitor.app.http_guard import Guard, Limits
from monitor.app.metrics import Metrics
from monitor.app.webhooks import WebhookReceiver, read_body

log = structlog.get_logger(__name__)

HEALTHCHECK_ENV = "FTMON_HEALTHCHECK_URL"
DEFAULT_HEALTHCHECK_URL = "http://127.0.0.1:9464/healthz"
STOP_SECONDS = 2.0  # requests in flight at stop() may finish within this
_HEADERS = [
    (b"server", b"ftmon"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"connection", b"close"),
]


def parse_listen(listen: str) -> tuple[str, int]:
    """`"127.0.0.1:9464"`, `"[::1]:9464"`, `"localhost:0"` -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f'expected "host:port" or "[v6]:port", got {listen!r}')
    return host, int(port)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside ftmon's loop: the daemon, not uvicorn, handles SIGTERM and SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    """Serves the endpoints on `listen` until stopped.

    `await server.start()` ... `await server.stop()`, `async with`, or `await
    task_group.start(server.serve)`. `port` is the bound port once started. `webhooks` may
    be swapped at any time (the daemon does on reload); None answers 404 to every webhook.
    """

    def __init__(
        self,
        listen: str,
        metrics: Metrics,
        health: HealthState,
        webhooks: WebhookReceiver | None = None,
    ) -> None:
        self.listen = listen
        self.host, self.port = parse_listen(listen)
        self.metrics, self.health, self.webhooks = metrics, health, webhooks
        self.limits = Limits(on_drop=metrics.http_dropped)
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def timeout(self) -> float:
        """Seconds a client has for its request head (and a webhook for its body)."""
        return self.limits.timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self.limits.timeout = seconds

    async def start(self) -> None:
        """Bind (raising OSError if that fails), then serve in a background asyncio task."""
        if self._task is not None:
            raise RuntimeError("HealthServer already started")
        sockets = _bind(self.host, self.port)
        self.port = sockets[0].getsockname()[1]
        config = uvicorn.Config(
            _app(self),
            http=Guard(self.limits).protocol(),
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(STOP_SECONDS),
            h11_max_incomplete_event_size=self.limits.max_head_bytes,
        )
        self._server = server = _EmbeddedServer(config)
        self._task = asyncio.create_task(server.serve(sockets=sockets))
        while not server.started and not self._task.done():  # noqa: ASYNC110 (a flag only)
            await asyncio.sleep(0.005)
        log.info("web_listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        """Close the listener and every open connection; wait until they are gone."""
        server, task, self._server, self._task = self._server, self._task, None, None
        if server is None or task is None:
            return
        server.should_exit = True
        done, _ = await asyncio.wait({task}, timeout=STOP_SECONDS + 3)
        if not done:
            server.force_exit = True
            task.cancel()
            await asyncio.wait({task})
        elif task.exception() is not None:
            log.error("web_server_failed", error=repr(task.exception()))

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        """Bind, report the port through `task_status`, and serve until cancelled."""
        await self.start()
        try:
            task_status.started(self.port)
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await self.stop()

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _bind(host: str, port: int) -> list[socket.socket]:
    """One listening socket per address `host` resolves to, all on one port."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, _kind, proto, _name, address in dict.fromkeys(found):
            sock = socket.socket(family, socket.SOCK_STREAM, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], port, *address[2:]))
            port = port or sock.getsockname()[1]
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _Hardened:
    """Outermost layer: the common headers on every answer; a target that is no path, 400."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/"):
            await PlainTextResponse("malformed request target\n", 400)(scope, receive, send)
            return

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", []) if h[0] != b"connection"]
                message = {**message, "headers": [*kept, *_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_hardened)


class _Endpoints:
    def __init__(self, server: HealthServer) -> None:
        self.server = server

    async def healthz(self, _request: Request) -> Response:
        return _verdict(self.server.health.liveness())

    async def readyz(self, _request: Request) -> Response:
        return _verdict(self.server.health.readiness())

    async def metrics(self, _request: Request) -> Response:
        metrics = self.server.metrics
        try:
            body = metrics.render()
        except Exception:
            log.exception("metrics_render_failed")
            return PlainTextResponse("metrics unavailable\n", 500)
        return Response(body, 200, media_type=metrics.content_type)

    async def webhook(self, request: Request) -> Response:
        receiver, provider = self.server.webhooks, request.path_params["provider"]
        if receiver is None or not receiver.accepts(provider):
            if receiver is not None:
                receiver.count(provider, "unknown_endpoint")
            return PlainTextResponse("not found\n", 404)
        source = request.client.host if request.client else "unknown"
        body = await read_body(request, receiver, provider, source, self.server.timeout)
        if isinstance(body, Response):
            return body
        answer = receiver.receive(provider, request.headers, body, source)
        return PlainTextResponse(f"{answer.text}\n", answer.status)


def _verdict(verdict: Verdict) -> Response:
    return PlainTextResponse(f"{verdict.reason}\n", 200 if verdict.ok else 503)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if "Allow" in headers:  # Starlette joins a set: make the order stable
        headers["Allow"] = ", ".join(sorted(m.strip() for m in headers["Allow"].split(",")))
    return PlainTextResponse(f"{exc.detail.lower()}\n", exc.status_code, headers=headers)


def _app(server: HealthServer) -> ASGIApp:
    ep = _Endpoints(server)
    probes = ["GET", "HEAD"]
    routes = [
        Route("/healthz", ep.healthz, methods=probes),
        Route("/readyz", ep.readyz, methods=probes),
        Route("/metrics", ep.metrics, methods=probes),
        Route("/webhooks/openai/{provider}", ep.webhook, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    return _Hardened(app)


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
