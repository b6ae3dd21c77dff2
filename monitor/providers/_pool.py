"""ftmon's side of the requests `http_client.ProviderHttp` hands to httpcore's pool straight
(issue 17: an `httpx.Request` built per request, its URL parsed and merged, cost 0.24 ms
of CPU on the machine of that issue, an eighth of the whole request).

- `Origin`: each request as httpx would build it, from parts kept per provider.
- `Body`: the answer's body as httpx's `Response` reads it (gzip decoded as before).
- `KeptSocketBackend`: httpcore's anyio network backend with a cheaper answer to "is this
  idle socket readable?" (a readable idle socket means the server closed it). httpcore's
  pool asks that of every idle connection each time it assigns a request or takes one
  back, about eight times a request with eight connections open; anyio finds the raw
  socket by rebuilding the stream's attribute table, a `getpeername` call included:
  18 µs a time, under 2 µs with the socket kept. Everything else (connect, TLS, reads
  and writes with their timeouts and error mapping) is httpcore's.
"""

# ruff: noqa: ASYNC109  (the `timeout` parameters are httpcore's interface, passed on)

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import httpcore
import httpx

# httpcore's SOCKET_OPTION (not exported)
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


def readable(sock: socket.socket | None) -> bool:
    """Whether a read would not block: on an idle connection, the server has hung up (or
    sent what nobody asked for); a socket already closed counts as readable."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class KeptSocketStream(httpcore.AsyncNetworkStream):
    """An httpcore stream that keeps its raw socket for the readability check."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return KeptSocketStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return readable(self._socket)
        return self._inner.get_extra_info(info)


class KeptSocketBackend(httpcore.AsyncNetworkBackend):
    """httpcore's `AnyIOBackend`, its streams wrapped in `KeptSocketStream`."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return KeptSocketStream(inner)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class Origin:
    """Requests to one provider, built as httpx would build them (its `Host`, default and
    client headers, timeouts: taken once from a request the client builds) from the base
    URL's parts, kept: only the path and the query are new to each request."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        model = client.build_request("GET", "")
        url = model.url
        self._url = (url.raw_scheme, url.raw_host, url.port)
        self._prefix = url.raw_path  # the base URL's path, with its final slash
        self._headers = model.headers.raw
        self._extensions = model.extensions

    def request(self, path: str, params: Mapping[str, str | int] | None) -> httpcore.Request:
        """GET `path` (relative to the base URL, its ids quoted by `job_path`) with
        `params` form-encoded as httpx encodes them (`urlencode`); a path that is not
        ASCII raises UnicodeError (`transport_errors`)."""
        target = self._prefix + path.lstrip("/").encode("ascii")
        if params:
            target += b"?" + urlencode(params).encode("ascii")
        scheme, host, port = self._url
        url = httpcore.URL(scheme=scheme, host=host, port=port, target=target)
        return httpcore.Request(b"GET", url, headers=self._headers, extensions=self._extensions)


class Body(httpx.AsyncByteStream):
    """httpcore's body stream as httpx's response reads it (httpx's transport wraps it
    the same way; its errors are httpcore's, mapped by `transport_errors`)."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()
