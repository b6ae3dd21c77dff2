"""Test kit for the provider tests: fixture payloads from `tests/fixtures/`, and a scripted
HTTP server on loopback for faults at the socket level (a connection dropped mid-body, a
hang-up, a slow answer) — real HTTP, not a mocked transport.

Named uniquely because test directories without `__init__.py` share one `sys.path`.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx

from monitor.core.model import ProviderKind
from monitor.core.settings import ProviderConfig, Secret
from monitor.providers import make_client
from monitor.providers.base import ProviderClient
from monitor.providers.http_client import tls_context
from monitor.simulator import ScenarioHandle, Simulator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_fixture(provider: str, name: str) -> object:
    """The decoded JSON of `tests/fixtures/<provider>/<name>`."""
    return json.loads((FIXTURES / provider / name).read_text(encoding="utf-8"))


# --- a scripted HTTP/1.1 server on loopback (real sockets, not a mock) -------------------


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    method: str
    path: str  # without the /v1 prefix, e.g. "fine-tunes/ft-1/events"
    query: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class Reply:
    """What to answer; the fault knobs misbehave at the socket level."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    drop_after: int | None = None  # send this many body bytes, then close mid-body
    hang_up: bool = False  # close the connection without any answer

    @classmethod
    def json(
        cls, payload: object, status: int = 200, headers: dict[str, str] | None = None
    ) -> Reply:
        return cls(status=status, body=json.dumps(payload).encode(), headers=headers or {})


Route = Callable[[Seen], Reply]


class ScriptedServer:
    """Answers each path with a scripted `Reply` and records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self._server: asyncio.Server | None = None
        self.base_url = ""

    def serve(self, path: str, reply: Reply | Route) -> None:
        self.routes[path] = reply if callable(reply) else (lambda _seen: reply)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                if not await self._answer(self._parse(head), writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _parse(self, head: bytes) -> Seen:
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        url = urlsplit(target)
        pairs = (line.split(": ", 1) for line in lines if ": " in line)
        headers = {name.lower(): value for name, value in pairs}
        query = dict(parse_qsl(url.query))
        return Seen(method, url.path.removeprefix("/v1/"), query, headers)

    async def _answer(self, seen: Seen, writer: asyncio.StreamWriter) -> bool:
        self.requests.append(seen)
        route = self.routes.get(seen.path)
        reply = route(seen) if route else Reply.json({"error": {"message": "no"}}, 404)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.hang_up:
            return False
        head = [f"HTTP/1.1 {reply.status} X", f"Content-Length: {len(reply.body)}"]
        head += [
            f"{k}: {v}" for k, v in {"content-type": "application/json", **reply.headers}.items()
        ]
        body = reply.body if reply.drop_after is None else reply.body[: reply.drop_after]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        return reply.drop_after is None


class CountingTransport(httpx.AsyncBaseTransport):
    """Real HTTP, through the clients' own transport, that counts the requests a client
    sends (answered or not).

    `timeouts` replaces the client's timeouts: httpx hands them to the transport in
    `request.extensions`, the seam that lets a test shorten them without touching the
    client's own settings.
    """

    def __init__(self, timeouts: dict[str, float] | None = None) -> None:
        self._inner = httpx.AsyncHTTPTransport(verify=tls_context())  # as the clients use
        self._timeouts = timeouts
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        if self._timeouts is not None:
            request.extensions["timeout"] = dict(self._timeouts)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def short_timeouts() -> CountingTransport:
    """Read timeout cut to 0.2 s, so a slow answer fails fast."""
    return CountingTransport({"connect": 1.0, "read": 0.2, "write": 1.0, "pool": 1.0})


# --- clients of the built-in simulator ---------------------------------------------------

SIM_KEYS = {ProviderKind.TOGETHER: "sim-together-key", ProviderKind.OPENAI: "sim-openai-key"}

# Each simulator's clients send through counting transports, so `sim_requests` can wait
# until the server's own accounting has caught up with what the clients sent before it
# reads the server's count for a route.
_SENT: weakref.WeakKeyDictionary[Simulator, list[CountingTransport]] = weakref.WeakKeyDictionary()


def sim_client(
    sim: Simulator, kind: ProviderKind, transport: CountingTransport | None = None
) -> ProviderClient:
    """A real client of `kind` pointed at the simulator, with the simulator's key."""
    cfg = ProviderConfig(
        name=f"{kind}-sim", kind=kind, api_key=Secret(SIM_KEYS[kind]), base_url=sim.base_url
    )
    counting = transport or CountingTransport()
    _SENT.setdefault(sim, []).append(counting)
    return make_client(cfg, transport=counting)


async def sim_requests(sim: Simulator, route: str) -> int:
    """The simulator's request count for `route` (e.g. `GET /v1/fine-tunes`)."""
    sent = sum(t.sent for t in _SENT.get(sim, []))
    for _ in range(400):
        stats = sim.stats()
        if stats["total_requests"] >= sent:
            return int(stats["requests"].get(route, 0))
        await asyncio.sleep(0.005)
    raise AssertionError(f"simulator counted {stats['total_requests']} of {sent} requests")


async def walk_statuses(
    sim: Simulator, client: ProviderClient, handle: ScenarioHandle, steps: int = 200
) -> list[str]:
    """The distinct raw statuses `retrieve` sees across a scenario, in order."""
    seen: list[str] = []
    for i in range(steps + 1):
        when = handle.start + (handle.end - handle.start) * i / steps
        if when > sim.now:
            sim.advance_to(when)
        raw = (await client.retrieve(handle.job_id)).raw_status
        if not seen or seen[-1] != raw:
            seen.append(raw)
    return seen
