"""The web server under hostile clients: idle and slow connections, floods, big heads.

Each test drives the real server over loopback sockets and then proves that an honest
probe still gets its answer and that the guard counted what it did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import httpx
import pytest
from anyio.abc import SocketStream
from prometheus_client.parser import text_string_to_metric_families

from monitor.app.health import HealthState
from monitor.app.metrics import Metrics
from monitor.app.nudges import LocalNudges
from monitor.app.web import HealthServer
from monitor.app.webhooks import WebhookReceiver

SECRET = "whsec_dGVzdC1rZXktZm9yLXRoZS1ndWFyZC10ZXN0cw=="


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def server(metrics: Metrics) -> AsyncIterator[HealthServer]:
    receiver = WebhookReceiver({"openai-prod": SECRET}, LocalNudges(), metrics)
    health = HealthState.for_interval(timedelta(seconds=60))
    async with HealthServer("127.0.0.1:0", metrics, health, receiver) as running:
        yield running


def dropped(metrics: Metrics) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == "ftmon_http_dropped_total":
                out[s.labels["reason"]] = s.value
    return out


async def healthz(port: int) -> int:
    async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
        return (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code


async def closed_by_server(stream: SocketStream) -> bool:
    """True once the server has hung up on this connection."""
    try:
        with anyio.fail_after(3):
            await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return True
    return False


async def test_idle_connections_beyond_the_cap_cannot_starve_healthz(
    server: HealthServer, metrics: Metrics
) -> None:
    """Five times the connection cap of half-sent heads (slowloris): the oldest are
    evicted to make room, and /healthz answers 200 while they are all still open."""
    server.limits.max_connections = 8
    streams = []
    try:
        for _ in range(40):
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            streams.append(stream)
        assert await healthz(server.port) == 200
        assert await closed_by_server(streams[0])
        assert dropped(metrics)["evicted"] >= 32
    finally:
        for stream in streams:
            await stream.aclose()


async def test_a_slow_head_is_cut_at_the_deadline(server: HealthServer, metrics: Metrics) -> None:
    """One byte now and then never completes a head in time: closed, counted "timeout"."""
    server.timeout = 0.3
    async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
        for byte in b"GET /hea":
            await stream.send(bytes([byte]))
            await anyio.sleep(0.05)
        assert await closed_by_server(stream)
    assert dropped(metrics)["timeout"] == 1
    assert await healthz(server.port) == 200


async def test_a_slow_webhook_body_is_answered_408(server: HealthServer, metrics: Metrics) -> None:
    """A head promising a body that never comes: 408 after the timeout, not a hang."""
    server.timeout = 0.3
    head = b"POST /webhooks/openai/openai-prod HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"
    async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
        await stream.send(head)
        with anyio.fail_after(3):
            reply = await stream.receive()
    assert reply.startswith(b"HTTP/1.1 408 ")


async def test_heads_too_large_and_garbage_are_counted_not_logged(
    server: HealthServer, metrics: Metrics
) -> None:
    """431 and 400 answers are counted by reason; the server serves on."""
    for data in (b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", b"\x16\x03\x01junk\r\n\r\n"):
        async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
            await stream.send(data)
            with anyio.fail_after(3):
                reply = await stream.receive()
        assert reply.split(b" ")[1] in (b"431", b"400")
    assert dropped(metrics)["too_large"] == 1
    assert dropped(metrics)["malformed"] == 1
    assert await healthz(server.port) == 200
