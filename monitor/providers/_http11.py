"""A small HTTP/1.1 transport for httpx: keep-alive connections, one request at a time each.

Why: ftmon makes hundreds of small GETs a cycle to one or two hosts, and httpcore's pool
and h11 cost about a millisecond of CPU each (measured: 1.15 ms per request against
0.30 ms with this transport under the same `httpx.AsyncClient`). The client above stays
httpx's: URLs, headers, auth, content decoding, the `Response` and the exception classes
callers map (`base.transport_errors`) are unchanged. Proxies configured in the
environment still go through httpx's own proxy transports (mounted by the client).

What it speaks: `GET` (and any request whose body httpx has already built), responses
framed by `Content-Length`, `chunked` or the connection's end; keep-alive unless the
server says `close`; TLS with the given context; the connect, read and write timeouts
httpx hands over in `request.extensions`. A reused connection the server closed while
idle (EOF before any byte of the answer) is retried once on a new one, as httpcore does.
Anything malformed is `httpx.RemoteProtocolError`; a connection lost is `ReadError` /
`WriteError`; a connection that is not read to the end of its body is closed, never reused.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import anyio.abc
import httpx
from anyio.streams.buffered import BufferedByteReceiveStream

MAX_HEAD = 65_536  # bytes of status line and headers
MAX_CHUNK_LINE = 1_024
READ_SIZE = 65_536
NO_BODY_STATUS = frozenset({204, 304})
Read = Callable[[BufferedByteReceiveStream], Awaitable[bytes]]


@dataclass(eq=False)
class _Connection:
    stream: anyio.abc.ByteStream
    reader: BufferedByteReceiveStream
    origin: tuple[bytes, str, int]
    idle_since: float = field(default_factory=time.monotonic)

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await self.stream.aclose()


class Http11Transport(httpx.AsyncBaseTransport):
    """Pooled HTTP/1.1 connections per origin; at most `keepalive` idle ones kept, each
    for at most `expiry` seconds."""

    def __init__(
        self, ssl_context: ssl.SSLContext, *, keepalive: int = 8, expiry: float = 30.0
    ) -> None:
        self._ssl = ssl_context
        self._keepalive = keepalive
        self._expiry = expiry
        self._idle: dict[tuple[bytes, str, int], list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        origin = _origin(request.url)
        connection = await self._reuse(origin)
        if connection is not None:
            try:
                return await self._exchange(connection, request, timeouts, reused=True)
            except _Stale:
                pass  # closed by the server while idle: once more on a new connection
        connection = await self._connect(origin, timeouts.get("connect"))
        try:
            return await self._exchange(connection, request, timeouts, reused=False)
        except _Stale:
            raise httpx.RemoteProtocolError("connection closed without an answer") from None

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                await connection.close()

    async def _reuse(self, origin: tuple[bytes, str, int]) -> _Connection | None:
        """The most recently used idle connection; older than `expiry`, closed instead."""
        idle = self._idle.get(origin, [])
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if now - connection.idle_since < self._expiry:
                return connection
            await connection.close()
        return None

    def _release(self, connection: _Connection) -> bool:
        idle = self._idle.setdefault(connection.origin, [])
        if len(idle) >= self._keepalive:
            return False
        connection.idle_since = time.monotonic()
        idle.append(connection)
        return True

    async def _connect(self, origin: tuple[bytes, str, int], seconds: float | None) -> _Connection:
        scheme, host, port = origin
        stream: anyio.abc.ByteStream
        try:
            with anyio.fail_after(seconds):
                if scheme == b"https":
                    stream = await anyio.connect_tcp(
                        host, port, ssl_context=self._ssl, tls_hostname=host,
                        tls_standard_compatible=False,
                    )  # fmt: skip
                else:
                    stream = await anyio.connect_tcp(host, port)
        except TimeoutError:
            raise httpx.ConnectTimeout("connect timed out") from None
        except (OSError, ssl.SSLError, anyio.BrokenResourceError) as exc:
            raise httpx.ConnectError(type(exc).__name__) from None
        return _Connection(stream, BufferedByteReceiveStream(stream), origin)

    async def _exchange(
        self,
        connection: _Connection,
        request: httpx.Request,
        timeouts: dict[str, float | None],
        *,
        reused: bool,
    ) -> httpx.Response:
        """Send the request and read the status and headers; the body is read by the
        response's stream. Raises `_Stale` when the connection ends before any answer
        (or, `reused`, fails before one: the server closed it while it was idle)."""
        try:
            await _send(connection, request, timeouts.get("write"))
            status, reason, headers, version = await _read_head(connection, timeouts.get("read"))
            body = _Body(self, connection, request.method, status, headers, version, timeouts)
        except (httpx.WriteError, httpx.ReadError):
            await connection.close()
            if reused:
                raise _Stale from None
            raise
        except BaseException:
            await connection.close()
            raise
        return httpx.Response(
            status,
            headers=headers,
            stream=body,
            extensions={"http_version": version, "reason_phrase": reason},
        )


class _Stale(Exception):
    """The connection ended before the first byte of an answer."""


def _origin(url: httpx.URL) -> tuple[bytes, str, int]:
    scheme = url.raw_scheme
    port = url.port or (443 if scheme == b"https" else 80)
    return scheme, url.host, port


async def _send(connection: _Connection, request: httpx.Request, seconds: float | None) -> None:
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    lines += [b"%s: %s" % (name, value) for name, value in request.headers.raw]
    data = b"\r\n".join(lines) + b"\r\n\r\n"
    body = await request.aread()
    try:
        with anyio.fail_after(seconds):
            await connection.stream.send(data + body)
    except TimeoutError:
        raise httpx.WriteTimeout("write timed out") from None
    except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
        raise httpx.WriteError(type(exc).__name__) from None


async def _read_head(
    connection: _Connection, seconds: float | None
) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
    """The status, reason, headers and version of the next final (non-1xx) answer."""
    while True:
        head = await _receive(
            connection, lambda r: r.receive_until(b"\r\n\r\n", MAX_HEAD), seconds, first=True
        )
        status_line, *header_lines = head.split(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise httpx.RemoteProtocolError("malformed status line")
        status = int(parts[1])
        headers = []
        for line in header_lines:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise httpx.RemoteProtocolError("malformed header line")
            headers.append((name, value.strip()))
        if not 100 <= status < 200:
            return status, parts[2] if len(parts) > 2 else b"", headers, parts[0]


async def _receive(
    connection: _Connection, read: Read, seconds: float | None, *, first: bool = False
) -> bytes:
    """One read from the connection (`read(reader)`), with the read timeout and httpx's
    exception classes; `first`: the start of an answer, where an end means `_Stale`."""
    try:
        with anyio.fail_after(seconds):
            return await read(connection.reader)
    except TimeoutError:
        raise httpx.ReadTimeout("read timed out") from None
    except anyio.IncompleteRead:
        if first and not connection.reader.buffer:
            raise _Stale from None
        raise httpx.RemoteProtocolError("connection closed mid-answer") from None
    except anyio.DelimiterNotFound:
        raise httpx.RemoteProtocolError("header section too large") from None
    except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
        raise httpx.ReadError(type(exc).__name__) from None


class _Body(httpx.AsyncByteStream):
    """The answer's body as it arrives; the connection goes back to the pool only when
    the body was read to its end and the server keeps the connection open."""

    def __init__(
        self,
        transport: Http11Transport,
        connection: _Connection,
        method: str,
        status: int,
        headers: list[tuple[bytes, bytes]],
        version: bytes,
        timeouts: dict[str, float | None],
    ) -> None:
        self._transport, self._connection = transport, connection
        self._timeout = timeouts.get("read")
        values = {name.lower(): value for name, value in headers}
        tokens = values.get(b"connection", b"").lower()
        self._keep = b"close" not in tokens and (version == b"HTTP/1.1" or b"keep-alive" in tokens)
        self._chunked = b"chunked" in values.get(b"transfer-encoding", b"").lower()
        self._length: int | None = None
        if method == "HEAD" or status in NO_BODY_STATUS:
            self._length, self._chunked = 0, False
        elif not self._chunked and b"content-length" in values:
            text = values[b"content-length"].strip()
            if not text.isdigit():
                raise httpx.RemoteProtocolError("malformed Content-Length")
            self._length = int(text)
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._chunked:
            parts = self._chunks()
        elif self._length is not None:
            parts = self._sized(self._length)
        else:
            parts = self._until_close()
        async for part in parts:
            yield part
        self._done = True

    async def _sized(self, left: int) -> AsyncIterator[bytes]:
        while left > 0:
            part = await self._read(min(left, READ_SIZE))
            left -= len(part)
            yield part

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            line = await _receive(
                self._connection, lambda r: r.receive_until(b"\r\n", MAX_CHUNK_LINE), self._timeout
            )
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise httpx.RemoteProtocolError("malformed chunk size") from None
            if size == 0:
                while await self._line():  # trailers, up to the empty line
                    pass
                return
            async for part in self._sized(size):
                yield part
            if await self._line():
                raise httpx.RemoteProtocolError("chunk longer than its size")

    async def _until_close(self) -> AsyncIterator[bytes]:
        self._keep = False
        while True:
            try:
                part = await self._read(READ_SIZE)
            except httpx.RemoteProtocolError:
                return  # the end of the connection is the end of the body
            yield part

    async def _line(self) -> bytes:
        return await _receive(
            self._connection, lambda r: r.receive_until(b"\r\n", MAX_CHUNK_LINE), self._timeout
        )

    async def _read(self, most: int) -> bytes:
        async def read(reader: BufferedByteReceiveStream) -> bytes:
            try:
                return await reader.receive(most)
            except anyio.EndOfStream:
                raise anyio.IncompleteRead from None

        return await _receive(self._connection, read, self._timeout)

    async def aclose(self) -> None:
        if self._done and self._keep and self._transport._release(self._connection):
            return
        await self._connection.close()
