"""How a provider's answer, or its absence, becomes an ftmon error, by one table.

`http_client.ProviderHttp` is the single boundary that calls this; the mapping is pure
(bar the context manager that catches transport failures) so it is tested by tables:

    401, 403                                  ProviderAuthError      permanent
    402; 429 with `insufficient_quota`        ProviderQuotaError     permanent
    408, 409, 429, 5xx                        ProviderUnavailable    retryable, retry_after
    timeouts, connect/read/write errors,
      a connection dropped mid-body           ProviderUnavailable    retryable
    404 on a job's path                       ProviderNotFound       the job may have vanished
    any other non-2xx (400, 404 on a list…)   ProviderError          permanent
    a 2xx body that is not JSON               ProviderSchemaError    names the job

Every error from an answer carries the answer's request id (`x-request-id`, else
Together's `cf-ray`) for the logs. `retry_after` comes from `retry-after-ms`, else
`Retry-After` (seconds or an HTTP date), else Together's `x-ratelimit-reset`, and is never
more than `MAX_PAUSE` (five minutes). Quoted provider text passes the redactor (a provider
echoing `Bearer <key>` shows a mask), and a transport failure is described in our words
(what failed, on which path), never by quoting the exception, whose text may carry a header.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpcore
import httpx

from monitor.core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderQuotaError,
    ProviderSchemaError,
    ProviderUnavailable,
)
from monitor.core.redact import REDACTOR
from monitor.core.text import one_line
from monitor.providers._fields import clean, may_hold_surrogates
from monitor.providers.pacing import MAX_PAUSE

RETRYABLE_STATUS = frozenset({408, 409, 429})
QUOTA_CODES = frozenset({"insufficient_quota"})
EPOCH_CUTOFF = 1_000_000_000.0  # a reset header this large is a unix time, not an interval
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "cf-ray")


# --- answers (pure) -------------------------------------------------------------------------


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


def _error_body(content: bytes | bytearray) -> tuple[str, str]:
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
    content: bytes | bytearray | None = None,
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


def decode_json(provider: str, content: bytes | bytearray, job_id: str | None) -> object:
    """Python's json: NaN and Infinity survive; truncated, malformed or nested-too-deep
    bodies do not; lone surrogates in strings are replaced (`_fields.clean`)."""
    try:
        decoded = json.loads(content)
        return clean(decoded) if may_hold_surrogates(content) else decoded
    except (ValueError, RecursionError) as exc:
        detail = f"invalid JSON ({type(exc).__name__}: {_shown(str(exc), 120)})"
        raise ProviderSchemaError(provider, "<body>", job_id, detail) from None


# --- transport failures ------------------------------------------------------------------

# What went wrong, in our words: an httpx exception's text may quote a header (the key).
# httpcore's own classes are raised by the requests `ProviderHttp` hands to its pool straight.
_TRANSPORT_WORDS: tuple[tuple[tuple[type[Exception], ...], str], ...] = (
    ((httpx.ConnectTimeout, httpcore.ConnectTimeout), "connection timed out"),
    ((httpx.ReadTimeout, httpcore.ReadTimeout), "no data within the read timeout"),
    ((httpx.WriteTimeout, httpcore.WriteTimeout), "request could not be sent in time"),
    ((httpx.PoolTimeout, httpcore.PoolTimeout), "no free connection in time"),
    ((httpx.ConnectError, httpcore.ConnectError), "connection failed"),
    ((httpx.ReadError, httpcore.ReadError), "connection lost while reading the answer"),
    ((httpx.WriteError, httpcore.WriteError), "connection lost while sending the request"),
    (
        (httpx.RemoteProtocolError, httpcore.RemoteProtocolError),
        "the server broke the HTTP protocol",
    ),
    (
        (httpx.LocalProtocolError, httpcore.LocalProtocolError),
        "the request could not be built (a header is invalid)",
    ),
    ((httpx.ProxyError, httpcore.ProxyError), "the proxy failed"),
    ((httpx.UnsupportedProtocol, httpcore.UnsupportedProtocol), "unsupported URL scheme"),
    ((httpx.DecodingError,), "the answer could not be decoded"),
    ((httpx.TooManyRedirects,), "too many redirects"),
)
# Everything either library raises for a request that failed on the way.
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)


def transport_summary(exc: Exception) -> str:
    """What failed, in our words, with the exception's class name (never its text)."""
    words = next((w for kind, w in _TRANSPORT_WORDS if isinstance(exc, kind)), "request failed")
    return f"{words} ({type(exc).__name__})"


@contextmanager
def transport_errors(provider: str, path: str, deadline: float) -> Iterator[None]:
    """Timeouts and connection failures (refused, reset, dropped mid-body) → retryable;
    so is a request that does not finish within its `deadline` (anyio's TimeoutError)."""
    try:
        yield
    except _TRANSPORT_ERRORS as exc:
        raise ProviderUnavailable(provider, f"{transport_summary(exc)} on {path}") from None
    except TimeoutError:
        detail = f"no complete answer within {deadline:.0f}s on {path}"
        raise ProviderUnavailable(provider, detail) from None
    except (UnicodeError, ValueError) as exc:  # a URL or header httpx cannot encode
        detail = f"the request could not be built ({type(exc).__name__}) on {path}"
        raise ProviderUnavailable(provider, detail) from None
