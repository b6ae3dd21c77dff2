"""The providers' own path (`ProviderHttp` handing requests to httpcore's pool straight,
`http_client.own_pool`) against raw servers on loopback: the framings a server may use,
keep-alive and its failures, TLS, and malformed answers, each mapped to the error the
boundary promises (a transport failure names its class in the message).

Real sockets throughout: each server below writes its bytes exactly as given.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from monitor.core.errors import ProviderError, ProviderUnavailable
from monitor.core.model import ProviderKind
from monitor.core.settings import ProviderConfig, Secret
from monitor.providers import http_client
from monitor.providers.http_client import ProviderHttp

Answer = Callable[[bytes, int], Awaitable[bytes | None]]  # (request head, index) -> bytes


class RawServer:
    """Answers each request with the bytes `answer` returns (None: hang up without a word);
    counts connections and requests."""

    def __init__(self, answer: Answer, *, close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after  # close each connection after one answer
        self.connections = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def start(self, tls: ssl.SSLContext | None = None) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if tls else 'http'}://{'localhost' if tls else '127.0.0.1'}:{port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.requests.append(head)
                data = await self.answer(head, len(self.requests) - 1)
                if data is None:
                    break
                writer.write(data)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def fixed(*answers: bytes | None) -> Answer:
    async def answer(_head: bytes, index: int) -> bytes | None:
        return answers[min(index, len(answers) - 1)]

    return answer


def ok(body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


Client = Callable[..., ProviderHttp]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    """`client(base)`: a provider's HTTP boundary on `base`, as the daemon builds it (no
    transport handed in: its requests go to httpcore's pool straight)."""
    made: list[ProviderHttp] = []

    def make(base: str, transport: httpx.AsyncBaseTransport | None = None) -> ProviderHttp:
        cfg = ProviderConfig(name="p", kind=ProviderKind.OPENAI, api_key=Secret(KEY), base_url=base)
        made.append(ProviderHttp(cfg, transport=transport))
        return made[-1]

    yield make
    for each in made:
        await each.aclose()


KEY = "sk-transport-test-key"


async def served(answer: Answer, **options: bool) -> tuple[RawServer, str]:
    server = RawServer(answer, **options)
    return server, await server.start()


async def fails(http: ProviderHttp, name: str) -> None:
    """The request fails as retryable, and the message names the library's error `name`."""
    with pytest.raises(ProviderUnavailable, match=rf"\({name}\)"):
        await http.get_bytes("x")


async def test_keep_alive_reuses_one_connection(client: Client) -> None:
    server, base = await served(fixed(ok(b'{"a": 1}')))
    http = client(base)
    for _ in range(5):
        assert await http.get_json("x", params={"y": 1}) == {"a": 1}
    assert server.connections == 1 and len(server.requests) == 5
    assert server.requests[0].startswith(b"GET /x?y=1 HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in server.requests[0].lower()
    await server.close()


async def test_the_request_is_the_one_httpx_would_send(client: Client) -> None:
    """Same request line (path under the base URL, query encoded) and the same headers,
    in the same order, as the client's own send path (a test's transport, a proxy)."""
    server, base = await served(fixed(ok(b"{}")))
    params = {"limit": 100, "after": "ft:event/1 é~ %"}
    await client(f"{base}/v1").get_json("fine_tuning/jobs/ft%3Aa/events", params=params)
    await client(f"{base}/v1", httpx.AsyncHTTPTransport()).get_json(
        "fine_tuning/jobs/ft%3Aa/events", params=params
    )
    direct, through_httpx = server.requests
    assert direct == through_httpx
    assert direct.startswith(
        b"GET /v1/fine_tuning/jobs/ft%3Aa/events?limit=100&after=ft%3Aevent%2F1+%C3%A9~+%25 "
    )
    assert f"Authorization: Bearer {KEY}\r\n".encode() in direct
    await server.close()


async def test_chunked_body_and_trailers(client: Client) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = head + b'4;ext=1\r\n{"a"\r\n5\r\n: [1]\r\n1\r\n}\r\n0\r\nX-T: 1\r\n\r\n'
    server, base = await served(fixed(body))
    http = client(base)
    assert await http.get_json("x") == {"a": [1]}
    assert await http.get_json("x") == {"a": [1]}  # the connection survived the framing
    assert server.connections == 1
    await server.close()


async def test_body_to_the_end_of_the_connection(client: Client) -> None:
    server, base = await served(fixed(b"HTTP/1.1 200 OK\r\n\r\n[1, 2]"), close_after=True)
    http = client(base)
    assert await http.get_json("x") == [1, 2]
    assert await http.get_json("x") == [1, 2]  # a new connection: that one ended
    assert server.connections == 2
    await server.close()


async def test_connection_close_is_not_reused(client: Client) -> None:
    server, base = await served(fixed(ok(b"{}", "Connection: close")), close_after=True)
    http = client(base)
    for _ in range(3):
        assert await http.get_json("x") == {}
    assert server.connections == 3
    await server.close()


async def test_a_connection_closed_while_idle_is_not_reused(client: Client) -> None:
    """The server drops each connection after one answer without saying so: the pool sees
    the idle socket readable (`_pool.readable`) and the next request goes out on a new
    connection, once."""
    server, base = await served(fixed(ok(b"1")), close_after=True)
    http = client(base)
    for _ in range(3):
        assert await http.get_bytes("x") == b"1"
        await asyncio.sleep(0.05)
    assert server.connections == 3 and len(server.requests) == 3
    await server.close()


async def test_a_new_connection_that_ends_without_an_answer_fails(client: Client) -> None:
    server, base = await served(fixed(None))
    await fails(client(base), "RemoteProtocolError")
    assert len(server.requests) == 1  # not retried: the connection was new
    await server.close()


async def test_interim_answers_are_skipped_and_gzip_is_decoded(client: Client) -> None:
    packed = gzip.compress(b'{"z": true}')
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + ok(packed, "Content-Encoding: gzip")
    server, base = await served(fixed(answer))
    assert await client(base).get_json("x") == {"z": True}
    assert b"\r\naccept-encoding: gzip" in server.requests[0].lower()
    await server.close()


async def test_a_corrupt_gzip_body_is_a_decoding_error(client: Client) -> None:
    server, base = await served(fixed(ok(b"not gzip at all", "Content-Encoding: gzip")))
    await fails(client(base), "DecodingError")
    await server.close()


async def test_no_body_statuses_keep_the_connection(client: Client) -> None:
    server, base = await served(fixed(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"))
    http = client(base)
    for _ in range(2):
        with pytest.raises(ProviderError, match="HTTP 304"):
            await http.get_bytes("x")
    assert server.connections == 1
    await server.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTCPCP/1.0 418 teapot\r\n\r\n",
        b"HTTP/1.1 OK 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"cut": ',
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * 200_000 + b"\r\n\r\n",  # past h11's 100 KiB
    ],
    ids=["protocol", "status", "header", "length", "chunk", "cut", "huge-head"],
)
async def test_malformed_answers_are_protocol_errors(client: Client, answer: bytes) -> None:
    server, base = await served(fixed(answer), close_after=True)
    await fails(client(base), "RemoteProtocolError")
    await server.close()


async def test_a_silent_server_is_a_read_timeout(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never(_head: bytes, _index: int) -> bytes | None:
        await asyncio.sleep(0.5)  # longer than the client's read timeout
        return None

    monkeypatch.setattr(http_client, "TIMEOUT", httpx.Timeout(1.0, read=0.2))
    server, base = await served(never)
    await fails(client(base), "ReadTimeout")
    await asyncio.sleep(0.5)  # the server gives up too, before the loop ends
    await server.close()


async def test_refused_is_a_connect_error(client: Client) -> None:
    server, base = await served(fixed(ok(b"")))
    await server.close()
    await asyncio.sleep(0.05)
    await fails(client(base), "ConnectError")


async def test_a_body_left_unread_closes_its_connection(client: Client) -> None:
    """An error answer is read only as far as its message needs (`ERROR_BODY_LIMIT`): the
    half-read connection is closed, not reused."""
    big = b"x" * 200_000
    error = b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big)
    server, base = await served(fixed(error, ok(b"[]")))
    http = client(base)
    with pytest.raises(ProviderUnavailable, match="HTTP 500"):
        await http.get_bytes("x")
    assert await http.get_json("x") == []
    assert server.connections == 2
    await server.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and its key, made by `openssl`."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_with_the_given_context(
    client: Client, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS to a server whose self-signed certificate names localhost, through the pool's
    TLS context (`tls_context`); the default context does not trust it and refuses."""
    cert, key = certificate
    served_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served_tls.load_cert_chain(cert, key)
    server = RawServer(fixed(ok(b'{"tls": 1}')))
    base = await server.start(served_tls)
    await fails(client(base), "ConnectError")
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(http_client, "tls_context", lambda: trusting)
    http = client(base)
    assert await http.get_json("x") == {"tls": 1}
    assert await http.get_json("x") == {"tls": 1}
    assert server.connections == 1
    await server.close()


async def test_a_proxy_named_by_the_environment_is_still_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Requests skip httpx's send path for speed, except where the environment names a
    proxy: then they go through the client's proxy transport as before."""
    proxy, proxy_url = await served(fixed(ok(b'{"via": "proxy"}')))
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    cfg = ProviderConfig(
        name="p", kind=ProviderKind.OPENAI, api_key=Secret("k"), base_url="http://ftmon.invalid/v1"
    )
    http = ProviderHttp(cfg)
    try:
        assert await http.get_json("fine_tuning/jobs") == {"via": "proxy"}
    finally:
        await http.aclose()
    assert proxy.requests[0].startswith(b"GET http://ftmon.invalid/v1/fine_tuning/jobs HTTP/1.1")
    await proxy.close()
