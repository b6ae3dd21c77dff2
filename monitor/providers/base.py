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

`retry_after` comes from `retry-after-ms`, else `Retry-After` (seconds or an HTTP date),
else Together's `x-ratelimit-reset`. The client never retries: the caller decides. Every
request waits its turn at the provider's `Pacer` (pacing.py), which every answer informs,
so a 429 or a dwindling rate-limit budget slows the next requests down. The API key is
read only to build the Authorization header and never appears in an error.
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

import httpx

from monitor.core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderQuotaError,
    ProviderSchemaError,
    ProviderUnavailable,
)
from monitor.core.model import Checkpoint, JobEvent, JobSnapshot, LossPoint, ProviderKind
from monitor.core.settings import ProviderConfig
from monitor.providers.pacing import Pacer

# Told the HTTP status of every response, or None when the request got no response
# (timeout, refused, dropped): how the daemon counts provider requests for /metrics.
ResponseCounter = Callable[[int | None], None]


class ProviderClient(Protocol):
    """Reads one provider account. Every method raises only `monitor.core.errors.ProviderError`s."""

    name: str
    kind: ProviderKind

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
    """Seconds to wait before the next request, as the provider asked, else None.

    An HTTP date is measured from the response's own `Date` header when present (immune
    to clock skew), else from `now`.
    """
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
    return words, (message[:200] if isinstance(message, str) else "")


def error_for_response(
    provider: str, response: httpx.Response, *, path: str, job_id: str | None, now: datetime
) -> ProviderError:
    """The ftmon error for a non-2xx answer; see the module docstring for the table."""
    code = response.status_code
    words, message = _error_body(response.content)
    what = f"HTTP {code} on {path}" + (f" ({words})" if words else "")
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
    """Python's json: NaN and Infinity survive; truncated or malformed bodies do not."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError) as exc:
        detail = f"invalid JSON ({type(exc).__name__}: {str(exc)[:120]})"
        raise ProviderSchemaError(provider, "<body>", job_id, detail) from None


@contextmanager
def transport_errors(provider: str, path: str) -> Iterator[None]:
    """Timeouts and connection failures (refused, reset, dropped mid-body) → retryable."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(provider, f"timeout ({type(exc).__name__}) on {path}") from exc
    except httpx.RequestError as exc:
        detail = f"{type(exc).__name__} on {path}: {str(exc)[:200]}"
        raise ProviderUnavailable(provider, detail) from exc


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
        """GET `path`: the body of a 2xx answer, every other outcome mapped to an error."""
        async with self.pacer.slot():
            try:
                with transport_errors(self.name, path):
                    response = await self._client.get(path, params=params)
            except ProviderUnavailable:
                self._count(None)
                raise
        self._count(response.status_code)
        if response.is_success:
            self.pacer.observe(response.status_code, response.headers)
            return response.content
        now = datetime.now(UTC)
        error = error_for_response(self.name, response, path=path, job_id=job_id, now=now)
        if isinstance(error, ProviderUnavailable) and response.status_code == 429:
            self.pacer.observe(429, response.headers, wait=error.retry_after)
        else:  # a quota 429 is billing, not pace: it says nothing about the rate
            self.pacer.observe(response.status_code, response.headers)
        raise error

    async def aclose(self) -> None:
        await self._client.aclose()
