"""The health server over real HTTP on loopback: health, readiness, metrics, the probe."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from subprocess import CompletedProcess

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.app.metrics import Metrics
from monitor.app.web import HealthServer, HealthState, parse_listen
from monitor.core.alerts import Alert, Kind, Severity

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(seconds=240)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def health(clock: FakeClock) -> HealthState:
    return HealthState(max_age=MAX_AGE, clock=clock)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(providers=["together-prod"], channels=["ml-slack"])


@pytest.fixture
async def server(metrics: Metrics, health: HealthState) -> AsyncIterator[HealthServer]:
    async with HealthServer("127.0.0.1:0", metrics, health) as running:
        yield running


@pytest.fixture
async def client(server: HealthServer) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=5) as http:
        yield http


def alert(kind: Kind, severity: Severity) -> Alert:
    return Alert(
        kind=kind,
        severity=severity,
        provider="together-prod",
        job_id="ft-1",
        at=T0,
        summary="s",
        dedup_key=f"{kind}:{severity}",
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_healthz_is_ok_during_the_start_grace(client: httpx.AsyncClient) -> None:
    """Before any cycle, a fresh process is healthy but not ready."""
    healthz = await client.get("/healthz")
    assert (healthz.status_code, healthz.text) == (200, "ok\n")
    assert healthz.headers["connection"] == "close"
    readyz = await client.get("/readyz")
    assert readyz.status_code == 503
    assert "not open" in readyz.text


async def test_healthz_turns_503_when_the_last_success_is_too_old(
    client: httpx.AsyncClient, health: HealthState, clock: FakeClock
) -> None:
    """A success older than max_age is a 503 with a one-line reason; a new success heals."""
    health.mark_cycle(clock.advance(30), ok=True)
    clock.advance(MAX_AGE.total_seconds())
    assert (await client.get("/healthz")).status_code == 200
    health.mark_cycle(clock.advance(1), ok=False)
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.text.count("\n") == 1
    assert "last successful cycle 241s ago (max 240s); 1 failed since" in response.text
    health.mark_cycle(clock.advance(5), ok=True)
    assert (await client.get("/healthz")).status_code == 200


async def test_healthz_fails_when_no_cycle_succeeds_within_the_grace(
    client: httpx.AsyncClient, health: HealthState, clock: FakeClock
) -> None:
    """Failed cycles only: healthy during the start grace, 503 after it."""
    health.mark_cycle(clock.advance(60), ok=False)
    assert (await client.get("/healthz")).status_code == 200
    clock.advance(200)
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert "no successful cycle" in response.text


async def test_readyz_needs_the_store_and_a_first_cycle(
    client: httpx.AsyncClient, health: HealthState, clock: FakeClock
) -> None:
    """Ready once the store is open and a cycle completed; not ready while stopping."""
    health.mark_ready()
    assert "first poll cycle" in (await client.get("/readyz")).text
    health.mark_cycle(clock.advance(10), ok=False)
    assert (await client.get("/readyz")).status_code == 200
    health.mark_stopping()
    response = await client.get("/readyz")
    assert (response.status_code, response.text) == (503, "stopping\n")


async def test_metrics_expose_what_was_recorded(
    client: httpx.AsyncClient, metrics: Metrics
) -> None:
    """Every recorded fact appears in the exposition, parsed by prometheus_client."""
    metrics.poll_done("together-prod", True, 0.3, T0)
    metrics.poll_done("together-prod", False, 2.0, T0 + timedelta(minutes=1))
    metrics.request("together-prod", 200)
    metrics.request("together-prod", 200)
    metrics.request("together-prod", None)
    failed = alert(Kind.FAILED, Severity.FAILURE)
    metrics.alerts_raised([failed, failed, alert(Kind.STARTED, Severity.INFO)])
    metrics.delivery("ml-slack", "sent")
    metrics.delivery("ml-slack", "retry")
    metrics.outbox_depth(7)
    metrics.unmatched_alert()
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == metrics.content_type
    got = samples(response.text)
    provider = (("provider", "together-prod"),)
    assert got[("ftmon_polls_total", (("outcome", "ok"), *provider))] == 1
    assert got[("ftmon_polls_total", (("outcome", "error"), *provider))] == 1
    assert got[("ftmon_provider_requests_total", (*provider, ("status", "200")))] == 2
    assert got[("ftmon_provider_requests_total", (*provider, ("status", "error")))] == 1
    assert got[("ftmon_alerts_total", (("kind", "job.failed"), ("severity", "failure")))] == 2
    assert got[("ftmon_alerts_total", (("kind", "job.started"), ("severity", "info")))] == 1
    assert got[("ftmon_deliveries_total", (("channel", "ml-slack"), ("outcome", "sent")))] == 1
    assert got[("ftmon_deliveries_total", (("channel", "ml-slack"), ("outcome", "given_up")))] == 0
    assert got[("ftmon_outbox_depth", ())] == 7
    assert got[("ftmon_unmatched_alerts_total", ())] == 1
    assert got[("ftmon_cycle_duration_seconds_count", provider)] == 2
    assert got[("ftmon_cycle_duration_seconds_sum", provider)] == pytest.approx(2.3)
    assert got[("ftmon_last_success_timestamp_seconds", provider)] == T0.timestamp()


async def test_provider_clients_count_every_request_by_status(
    server: HealthServer, metrics: Metrics
) -> None:
    """A provider client wired to the metrics counts each answer by status, and a request
    that got no answer (connection refused) as `error`."""
    from functools import partial

    from monitor.core.errors import ProviderError
    from monitor.core.model import ProviderKind
    from monitor.core.settings import ProviderConfig, Secret
    from monitor.providers import make_client

    def provider(base_url: str) -> ProviderConfig:
        return ProviderConfig(
            name="openai-prod", kind=ProviderKind.OPENAI, api_key=Secret("k"), base_url=base_url
        )

    count = partial(metrics.request, "openai-prod")
    answering = make_client(provider(f"http://127.0.0.1:{server.port}/v1"), on_response=count)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    refusing = make_client(provider(f"http://127.0.0.1:{dead_port}/v1"), on_response=count)
    for client in (answering, answering, refusing):
        with pytest.raises(ProviderError):
            await client.retrieve("ftjob-abc")
    await answering.aclose()
    await refusing.aclose()
    got = samples(metrics.render().decode())
    labels = ("provider", "openai-prod")
    assert got[("ftmon_provider_requests_total", (labels, ("status", "404")))] == 2
    assert got[("ftmon_provider_requests_total", (labels, ("status", "error")))] == 1


async def test_unknown_paths_methods_and_heads(client: httpx.AsyncClient) -> None:
    """404 for unknown paths, 405 with Allow for other methods, HEAD has no body."""
    assert (await client.get("/config")).status_code == 404
    assert (await client.get("/healthz/../config")).status_code == 404
    assert (await client.get("/healthz?verbose=1")).status_code == 200
    post = await client.post("/healthz", content=b"x" * 1000)
    assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")
    head = await client.head("/metrics")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0


async def raw_exchange(port: int, data: bytes) -> bytes:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(data)
        reply = b""
        with anyio.fail_after(5):
            try:
                while chunk := await stream.receive():
                    reply += chunk
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
        return reply


async def test_oversized_and_malformed_requests_are_refused(server: HealthServer) -> None:
    """A head over the bound is 431, garbage is 400; the server keeps serving."""
    huge = b"GET /healthz HTTP/1.1\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n"
    assert (await raw_exchange(server.port, huge)).startswith(b"HTTP/1.1 431 ")
    assert (await raw_exchange(server.port, b"\x00\xff junk\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
    assert (await raw_exchange(server.port, b"GET healthz HTTP/1.1\r\n\r\n")).startswith(
        b"HTTP/1.1 400 "
    )
    ok = await raw_exchange(server.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 OK\r\n")
    assert ok.endswith(b"\r\n\r\nok\n")


async def test_a_silent_client_is_dropped_after_the_timeout(server: HealthServer) -> None:
    """A connection that never finishes its request is closed, not held forever."""
    server.timeout = 0.2
    async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
        await stream.send(b"GET /healthz HTTP/1.1\r\n")
        with anyio.fail_after(3), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await stream.receive()


async def test_a_failing_render_is_a_500_and_the_server_lives_on(health: HealthState) -> None:
    """An exception while answering one request never stops the server."""

    class BrokenMetrics(Metrics):
        def render(self) -> bytes:
            raise RuntimeError("boom")

    async with HealthServer("127.0.0.1:0", BrokenMetrics(), health) as server:
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, trust_env=False) as http:
            assert (await http.get("/metrics")).status_code == 500
            assert (await http.get("/healthz")).status_code == 200


async def test_stop_releases_the_port(metrics: Metrics, health: HealthState) -> None:
    """After stop() nothing listens; a second server can bind the same port."""
    server = HealthServer("127.0.0.1:0", metrics, health)
    await server.start()
    port = server.port
    await server.stop()
    with pytest.raises(OSError, match=r"connect|refused"):
        await anyio.connect_tcp("127.0.0.1", port)
    async with HealthServer(f"127.0.0.1:{port}", metrics, health) as again:
        assert again.port == port


async def test_start_fails_loudly_when_the_port_is_taken(
    server: HealthServer, metrics: Metrics, health: HealthState
) -> None:
    """Binding an address in use raises at start, with nothing left running."""
    with pytest.raises(OSError, match="in use"):
        await HealthServer(f"127.0.0.1:{server.port}", metrics, health).start()


async def test_serve_under_a_task_group_reports_its_port(
    metrics: Metrics, health: HealthState
) -> None:
    """`task_group.start(server.serve)` hands back the bound port."""
    async with anyio.create_task_group() as tg:
        port = await tg.start(HealthServer("127.0.0.1:0", metrics, health).serve)
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
        tg.cancel_scope.cancel()


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ipv6_listen_address(metrics: Metrics, health: HealthState) -> None:
    """`[::1]:port` binds the IPv6 loopback."""
    async with (
        HealthServer("[::1]:0", metrics, health) as server,
        httpx.AsyncClient(trust_env=False) as http,
    ):
        assert (await http.get(f"http://[::1]:{server.port}/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("[::1]:9464", ("::1", 9464)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("localhost:80", ("localhost", 80)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    """The config's host:port forms, IPv6 in brackets."""
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["", "9464", ":9464", "host:port", "host:70000"])
def test_parse_listen_rejects(listen: str) -> None:
    """Anything but host:port is refused."""
    with pytest.raises(ValueError, match="host:port"):
        parse_listen(listen)


async def probe(*args: str, env: dict[str, str] | None = None) -> CompletedProcess[bytes]:
    return await anyio.run_process(
        [sys.executable, "-m", "monitor.app.web", *args], check=False, env=env
    )


async def test_docker_healthcheck_probe_follows_healthz(
    server: HealthServer, health: HealthState, clock: FakeClock
) -> None:
    """`python -m monitor.app.web --check URL` exits 0 on a healthy server, 1 otherwise."""
    url = f"http://127.0.0.1:{server.port}/healthz"
    healthy = await probe("--check", url)
    assert healthy.returncode == 0
    assert healthy.stdout.startswith(b"healthy: HTTP 200")
    clock.advance(MAX_AGE.total_seconds() + 1)
    unhealthy = await probe("--check", url)
    assert unhealthy.returncode == 1
    assert b"HTTP 503" in unhealthy.stdout


async def test_docker_healthcheck_probe_fails_without_a_server() -> None:
    """Nothing listening, or a URL that is not http(s), is unhealthy; no args is usage."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert (await probe("--check", f"http://127.0.0.1:{free}/healthz")).returncode == 1
    assert (await probe("--check", "file:///etc/passwd")).returncode == 1
    assert (await probe()).returncode == 2
