"""The pooled HTTP client of one provider, and `ProviderHttp.read`, the one boundary every
provider request passes (the error table is `http_errors`).

Nothing a provider sends is trusted to be small, quick or harmless: each request has a
total deadline (`REQUEST_DEADLINE`, headers and body, so a body trickled a byte at a time
cannot hold a poll forever), a body larger than the provider's `max_response_mb` is
refused without being buffered, and the provider's key is masked in the raw body before
it is parsed (a chunk at a time, as it arrives: `KeyMask`).

The client never retries: the caller decides. Every request waits its turn at the
provider's `Pacer` (pacing.py), which every answer informs, so a 429 or a dwindling
rate-limit budget slows the next requests down.
"""

from __future__ import annotations

import functools
import importlib.metadata
import ssl
import urllib.request
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import anyio
import httpcore
import httpx

from monitor.core.errors import ProviderError, ProviderSchemaError, ProviderUnavailable
from monitor.core.settings import ProviderConfig
from monitor.providers._mask import KeyMask, Sink, mask
from monitor.providers._pool import Body, KeptSocketBackend, Origin
from monitor.providers.http_errors import (
    decode_json,
    error_for_response,
    request_id,
    transport_errors,
)
from monitor.providers.pacing import Pacer

# Told the HTTP status of every response, or None when the request got no response
# (timeout, refused, dropped): how the daemon counts provider requests for /metrics.
ResponseCounter = Callable[[int | None], None]

# --- the pooled HTTP client ------------------------------------------------------------

TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)
KEEPALIVE, KEEPALIVE_EXPIRY = 8, 30.0  # idle connections kept per host, and for how long
LIMITS = httpx.Limits(
    max_connections=16, max_keepalive_connections=KEEPALIVE, keepalive_expiry=KEEPALIVE_EXPIRY
)

REQUEST_DEADLINE = 60.0  # seconds for one whole request: connect, headers and body
ERROR_BODY_LIMIT = 65_536  # bytes of a non-2xx body read for its message
MB = 1024 * 1024


def user_agent() -> str:
    try:
        version = importlib.metadata.version("ftmon")
    except importlib.metadata.PackageNotFoundError:
        version = "0.0.0"
    return f"ftmon/{version}"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once: loading the CA bundle costs ~30 ms a time."""
    return httpx.create_ssl_context()


def build_http_client(
    cfg: ProviderConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """One pooled client per provider: explicit timeouts and limits, bearer auth, no redirects.
    Without a `transport` (a test's), httpx builds its own, a proxy's where the
    environment names one; `ProviderHttp` sends past it when none is named (`own_pool`)."""
    return httpx.AsyncClient(
        verify=tls_context(),  # for the transports httpx builds itself (a proxy's)
        base_url=cfg.base_url,
        headers={
            "Authorization": f"Bearer {cfg.api_key.reveal()}",
            "User-Agent": user_agent(),
            "Accept": "application/json",
        },
        timeout=TIMEOUT,
        limits=LIMITS,
        transport=transport,
        follow_redirects=False,
    )


def own_pool() -> httpcore.AsyncConnectionPool | None:
    """The connection pool ftmon's requests go to straight: httpcore's, as httpx's own
    transport builds it (same TLS context and limits, HTTP/1.1), on a network backend
    that keeps each socket (`_pool`). None where the environment names a proxy
    (`HTTPS_PROXY`…): then the client's transports, the proxy's among them, carry all."""
    if urllib.request.getproxies():
        return None
    return httpcore.AsyncConnectionPool(
        ssl_context=tls_context(),
        max_connections=LIMITS.max_connections,
        max_keepalive_connections=LIMITS.max_keepalive_connections,
        keepalive_expiry=LIMITS.keepalive_expiry,
        network_backend=KeptSocketBackend(),
    )


def job_path(collection: str, job_id: str, *rest: str) -> str:
    """`collection/<quoted id>/rest…`: an id can never escape its path segment."""
    return "/".join([collection, quote(job_id, safe=""), *rest])


# --- the boundary --------------------------------------------------------------------------


class ProviderHttp:
    """The pooled client of one provider and its single error boundary, `get_json`."""

    def __init__(
        self,
        cfg: ProviderConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_response: ResponseCounter | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.name = cfg.name
        self._client = build_http_client(cfg, transport=transport)
        # Requests go to httpcore's pool straight, as httpx's transport would hand them
        # over (`_pool`): the client's send path (auth, redirects, cookies) does nothing
        # ftmon uses, and an `httpx.Request` built per request is costly.
        # A given transport (tests) or a proxy the environment names keeps the whole path.
        self._direct = None if transport else own_pool()
        self._origin = Origin(self._client)
        self._count: ResponseCounter = on_response or (lambda _status: None)
        self.pacer = pacer or Pacer()
        self._max_body = cfg.max_response_mb * MB
        self._key = cfg.api_key.reveal().encode("ascii", "replace")

    async def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        job_id: str | None = None,
    ) -> object:
        """GET `path` and decode it; `job_id` names the job a 404 or a bad body is about."""
        content = await self.get_bytes(path, params=params, job_id=job_id)
        return decode_json(self.name, content, job_id)

    async def get_bytes(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        job_id: str | None = None,
    ) -> bytearray:
        """GET `path`: the body of a 2xx answer (the key masked in it), read into one
        growing buffer; every other outcome mapped to an error (`read`)."""
        body = bytearray()
        await self.read(path, body.extend, params=params, job_id=job_id)
        return body

    async def read(
        self,
        path: str,
        sink: Sink,
        *,
        params: Mapping[str, str | int] | None = None,
        job_id: str | None = None,
    ) -> None:
        """GET `path`, handing the body of a 2xx answer to `sink` as it arrives (the key
        masked in it), so a caller that parses as it goes never holds the whole body (a
        6 MB job list was a poll's largest allocation). Every other outcome is an error;
        so is what `sink` raises, once the answer is counted."""
        async with self.pacer.slot():
            try:
                with transport_errors(self.name, path, REQUEST_DEADLINE):
                    answer = await self._request(path, params, KeyMask(self._key, sink))
            except ProviderUnavailable:
                self._count(None)
                raise
        response = answer.response
        self._count(response.status_code)
        if answer.too_large:
            limit = f"larger than max_response_mb = {self._max_body // MB}"
            raise ProviderSchemaError(self.name, "<body>", job_id, f"an answer {limit}")
        if answer.refused is not None:
            raise answer.refused
        if response.is_success:
            self.pacer.observe(response.status_code, response.headers)
            return
        now = datetime.now(UTC)
        content = mask(answer.error_body, self._key)
        error = error_for_response(
            self.name, response, path=path, job_id=job_id, now=now, content=content
        )
        error.request_id = request_id(response.headers)
        if isinstance(error, ProviderUnavailable) and response.status_code == 429:
            self.pacer.observe(429, response.headers, wait=error.retry_after)
        else:  # a quota 429 is billing, not pace: it says nothing about the rate
            self.pacer.observe(response.status_code, response.headers)
        raise error

    async def _request(
        self, path: str, params: Mapping[str, str | int] | None, sink: KeyMask
    ) -> _Answer:
        """One GET within `REQUEST_DEADLINE`: a 2xx body goes to `sink` up to the size
        limit, any other body is kept as far as `ERROR_BODY_LIMIT` for its message."""
        with anyio.fail_after(REQUEST_DEADLINE):
            response = await self._send(path, params)
            answer = _Answer(response)
            try:
                if not response.is_success:
                    answer.error_body = await _head(response, ERROR_BODY_LIMIT)
                    return answer
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self._max_body:
                        answer.too_large = True
                        return answer
                    sink.feed(chunk)
                sink.close()
            except ProviderError as exc:  # the sink could not take the body: stop reading
                answer.refused = exc
            finally:
                await response.aclose()
        return answer

    async def _send(self, path: str, params: Mapping[str, str | int] | None) -> httpx.Response:
        """The answer's head, its body left to stream: through the pool straight (the
        request httpx would build, `Origin`), else through the client."""
        if self._direct is None:
            request = self._client.build_request("GET", path, params=params)
            return await self._client.send(request, stream=True)
        answer = await self._direct.handle_async_request(self._origin.request(path, params))
        stream = answer.stream
        assert isinstance(stream, AsyncIterable)  # an async pool's answer streams async
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=Body(stream),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._direct is not None:
            await self._direct.aclose()


@dataclass(slots=True)
class _Answer:
    """What one request got: the response, and how its body went."""

    response: httpx.Response
    error_body: bytes = b""  # a non-2xx body, as far as ERROR_BODY_LIMIT
    too_large: bool = False  # a 2xx body over max_response_mb: not read on
    refused: ProviderError | None = None  # what the sink raised


async def _head(response: httpx.Response, limit: int) -> bytes:
    """The body's first `limit` bytes (an error's message is in its head)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            break
    return bytes(body[:limit])
