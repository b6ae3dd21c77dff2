"""What every provider module offers, and the one place HTTP errors become ftmon errors.

A provider module (together.py, openai.py) parses its own wire shapes tolerantly into
the normalized model and exposes the `ProviderClient` Protocol below. Adding Fireworks or
Azure OpenAI later is one new module in the same shape.

HTTP goes through `ProviderHttp.get_json`, the single boundary where foreign failures are
mapped onto `monitor.core.errors`:

    401, 403                                  ProviderAuthError      permanent
    402; 429 with `insufficient_quota`        ProviderQuotaError     permanent
    408, 409, 429, 5xx                        ProviderUnavailable    retryable, retry_after
    timeouts, connect/read/write errors,
      a connection dropped mid-body           ProviderUnavailable    retryable
    404 on a job's path                       ProviderNotFound       the job may have vanished
    any other non-2xx (400, 404 on a list…)   ProviderError          permanent
    a 2xx body that is not JSON               ProviderSchemaError    names the job

Every error from an answer carries the answer's request id (`x-request-id`, else
Together's `cf-ray`) for the logs.
`retry_after` comes from `retry-after-ms`, else `Retry-After` (seconds or an HTTP date),
else Together's `x-ratelimit-reset`, and is never more than `MAX_PAUSE` (five minutes).

Nothing a provider sends is trusted to be small, quick or harmless: each request has a
total deadline (`REQUEST_DEADLINE`, headers and body, so a body trickled a byte at a time
cannot hold a poll forever), a body larger than the provider's `max_response_mb` is
refused without being buffered, the provider's key is masked in the raw body before it
is parsed and quoted error text passes the redactor (a provider echoing `Bearer <key>`
shows a mask), and a transport failure is described in our words (what failed, on which
path), never by quoting the exception, whose text may carry a header.

The client never retries: the caller decides. Every request waits its turn at the
provider's `Pacer` (pacing.py), which every answer informs, so a 429 or a dwindling
rate-limit budget slows the next requests down.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import math
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import quote

import anyio
import httpx

from monitor.core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderQuotaError,
    ProviderSchemaError,
    ProviderUnavailable,
)
from monitor.core.model import Checkpoint, JobEvent, JobSnapshot, LossPoint, ProviderTraits
from monitor.core.redact import MASK, REDACTOR
from monitor.core.settings import ProviderConfig
from monitor.core.text import one_line
from monitor.providers._fields import clean, may_hold_surrogates
from monitor.providers.pacing import MAX_PAUSE, Pacer

# Told the HTTP status of every response, or None when the request got no response
# (timeout, refused, dropped): how the daemon counts provider requests for /metrics.
ResponseCounter = Callable[[int | None], None]


class ProviderClient(Protocol):
    """Reads one provider account. Every method raises only `monitor.core.errors.ProviderError`s."""

    name: str
    kind: str
    traits: ProviderTraits  # declared once in the provider's module

    async def list_jobs(self, *, created_after: datetime | None) -> list[JobSnapshot]:
        """Jobs created after `created_after` (all when None), as few requests as the API allows.

        Together: one request, no pagination. OpenAI: newest first, `limit=100`, following
        `after` only while the page still reaches back past `created_after`.
        """
        ...

    async def retrieve(self, job_id: str) -> JobSnapshot:
        """One job in full (Together's includes its event log in `events`)."""
        ...

    async def events(self, job_id: str, *, after_key: str | None) -> list[JobEvent]:
        """New events, oldest first.

        OpenAI reads newest first and stops at `after_key` (exclusive); Together has no
        cursor and returns its whole log, which the caller filters by seen keys.
        """
        ...

    async def checkpoints(self, job_id: str) -> list[Checkpoint]: ...

    async def losses(self, job_id: str, *, after_step: int | None) -> list[LossPoint]:
        """Training-loss readings past `after_step`, from a metrics endpoint.

        Together: its `/metrics` train rows from `after_step + 1`. OpenAI: none, without a
        request (its losses arrive as `metrics` events in the log).
        """
        ...

    async def aclose(self) -> None: ...


# --- the pooled HTTP client ------------------------------------------------------------

TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)
LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=30.0)

RETRYABLE_STATUS = frozenset({408, 409, 429})
QUOTA_CODES = frozenset({"insufficient_quota"})
EPOCH_CUTOFF = 1_000_000_000.0  # a reset header this large is a unix time, not an interval
REQUEST_DEADLINE = 60.0  # seconds for one whole request: connect, headers and body
ERROR_BODY_LIMIT = 65_536  # bytes of a non-2xx body read for its message
MB = 1024 * 1024
MASK_BYTES = MASK.encode()
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "cf-ray")


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
    """One pooled client per provider: explicit timeouts and limits, bearer auth, no redirects."""
    return httpx.AsyncClient(
        verify=tls_context() if transport is None else True,  # a given transport brings its own
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


def job_path(collection: str, job_id: str, *rest: str) -> str:
    """`collection/<quoted id>/rest…`: an id can never escape its path segment."""
    return "/".join([collection, quote(job_id, safe=""), *rest])


# --- error mapping (pure) ----------------------------------------------------------------


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _http_date(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait before the next request, as the provider asked (at most
    `MAX_PAUSE`), else None.

    An HTTP date is measured from the response's own `Date` header when present (immune
    to clock skew), else from `now`.
    """
    asked = _asked_wait(headers, now)
    return None if asked is None else min(asked, MAX_PAUSE)


def _asked_wait(headers: Mapping[str, str], now: datetime) -> float | None:
    millis = _seconds(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    header = headers.get("retry-after")
    if header is not None:
        seconds = _seconds(header)
        if seconds is not None:
            return seconds
        when = _http_date(header)
        if when is not None:
            reference = _http_date(headers.get("date", "")) or now
            return max(0.0, (when - reference).total_seconds())
    reset = _seconds(headers.get("x-ratelimit-reset"))
    if reset is not None and reset >= EPOCH_CUTOFF:
        return max(0.0, reset - now.timestamp())
    return reset


def _error_body(content: bytes) -> tuple[str, str]:
    """(`type`/`code` words, message) from an `{"error": {...}}` body; empty when absent."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    words = " ".join(str(error.get(k)) for k in ("type", "code") if error.get(k))
    message = error.get("message")
    return _shown(words, 80), (_shown(message, 200) if isinstance(message, str) else "")


def _shown(text: str, limit: int) -> str:
    """Provider text fit to quote: one line, secrets masked (before it is cut, so no cut
    can leave half a key), at most `limit` characters."""
    return REDACTOR(one_line(text[: limit * 10]))[:limit]


def request_id(headers: Mapping[str, str]) -> str | None:
    """The provider's id for this request (support asks for it), if it looks like one."""
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name, "")
        if value and len(value) <= 64 and all(c.isalnum() or c in "-_:." for c in value):
            return value
    return None


def error_for_response(
    provider: str,
    response: httpx.Response,
    *,
    path: str,
    job_id: str | None,
    now: datetime,
    content: bytes | None = None,
) -> ProviderError:
    """The ftmon error for a non-2xx answer (`content`: its body, when read apart from
    `response`); see the module docstring for the table."""
    code = response.status_code
    words, message = _error_body(response.content if content is None else content)
    rid = request_id(response.headers)
    what = f"HTTP {code} on {path}" + (f" ({words})" if words else "")
    what += f" [request {rid}]" if rid else ""
    if code in (401, 403):  # the body is not quoted: it may echo part of the key
        return ProviderAuthError(provider, f"{what}: credentials rejected", status_code=code)
    if code == 402 or (code == 429 and QUOTA_CODES.intersection(words.split())):
        return ProviderQuotaError(provider, f"{what}: {message}", status_code=code)
    if code in RETRYABLE_STATUS or code >= 500:
        wait = retry_after(response.headers, now)
        return ProviderUnavailable(
            provider, f"{what}: {message}", status_code=code, retry_after=wait
        )
    if code == 404 and job_id is not None:
        return ProviderNotFound(provider, job_id)
    return ProviderError(provider, f"{what}: {message}", status_code=code)


def decode_json(provider: str, content: bytes, job_id: str | None) -> object:
    """Python's json: NaN and Infinity survive; truncated, malformed or nested-too-deep
    bodies do not; lone surrogates in strings are replaced (`_fields.clean`)."""
    try:
        decoded = json.loads(content)
        return clean(decoded) if may_hold_surrogates(content) else decoded
    except (ValueError, RecursionError) as exc:
        detail = f"invalid JSON ({type(exc).__name__}: {_shown(str(exc), 120)})"
        raise ProviderSchemaError(provider, "<body>", job_id, detail) from None


# What went wrong, in our words: an httpx exception's text may quote a header (the key).
_TRANSPORT_WORDS: tuple[tuple[type[Exception], str], ...] = (
    (httpx.ConnectTimeout, "connection timed out"),
    (httpx.ReadTimeout, "no data within the read timeout"),
    (httpx.WriteTimeout, "request could not be sent in time"),
    (httpx.PoolTimeout, "no free connection in time"),
    (httpx.ConnectError, "connection failed"),
    (httpx.ReadError, "connection lost while reading the answer"),
    (httpx.WriteError, "connection lost while sending the request"),
    (httpx.RemoteProtocolError, "the server broke the HTTP protocol"),
    (httpx.LocalProtocolError, "the request could not be built (a header is invalid)"),
    (httpx.ProxyError, "the proxy failed"),
    (httpx.UnsupportedProtocol, "unsupported URL scheme"),
    (httpx.DecodingError, "the answer could not be decoded"),
    (httpx.TooManyRedirects, "too many redirects"),
)


def transport_summary(exc: Exception) -> str:
    """What failed, in our words, with the exception's class name (never its text)."""
    words = next((w for kind, w in _TRANSPORT_WORDS if isinstance(exc, kind)), "request failed")
    return f"{words} ({type(exc).__name__})"


@contextmanager
def transport_errors(provider: str, path: str) -> Iterator[None]:
    """Timeouts and connection failures (refused, reset, dropped mid-body) → retryable;
    so is a request that does not finish within `REQUEST_DEADLINE` (anyio's TimeoutError)."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(provider, f"{transport_summary(exc)} on {path}") from None
    except TimeoutError:
        detail = f"no complete answer within {REQUEST_DEADLINE:.0f}s on {path}"
        raise ProviderUnavailable(provider, detail) from None
    except (UnicodeError, ValueError) as exc:  # a URL or header httpx cannot encode
        detail = f"the request could not be built ({type(exc).__name__}) on {path}"
        raise ProviderUnavailable(provider, detail) from None


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
    ) -> bytes:
        """GET `path`: the body of a 2xx answer (the key masked in it), every other outcome
        mapped to an error."""
        async with self.pacer.slot():
            try:
                with transport_errors(self.name, path):
                    response, content = await self._request(path, params)
            except ProviderUnavailable:
                self._count(None)
                raise
        self._count(response.status_code)
        if content is None:
            limit = f"larger than max_response_mb = {self._max_body // MB}"
            raise ProviderSchemaError(self.name, "<body>", job_id, f"an answer {limit}")
        content = content.replace(self._key, MASK_BYTES) if self._key else content
        if response.is_success:
            self.pacer.observe(response.status_code, response.headers)
            return content
        now = datetime.now(UTC)
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
        self, path: str, params: Mapping[str, str | int] | None
    ) -> tuple[httpx.Response, bytes | None]:
        """One GET within `REQUEST_DEADLINE`; its body, or None when over the size limit
        (an error answer's body is only read as far as `ERROR_BODY_LIMIT`)."""
        with anyio.fail_after(REQUEST_DEADLINE):
            async with self._client.stream("GET", path, params=params) as response:
                limit = self._max_body if response.is_success else ERROR_BODY_LIMIT
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        return response, (None if response.is_success else bytes(body[:limit]))
        return response, bytes(body)

    async def aclose(self) -> None:
        await self._client.aclose()
