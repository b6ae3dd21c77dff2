"""The one HTTP error boundary: status codes, headers and bodies → ftmon errors (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from monitor.core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderQuotaError,
    ProviderSchemaError,
    ProviderUnavailable,
)
from monitor.core.model import ProviderKind
from monitor.core.settings import ProviderConfig, Secret
from monitor.providers.http_client import TIMEOUT, build_http_client, job_path
from monitor.providers.http_errors import decode_json, error_for_response, retry_after

Load = Callable[[str, str], Any]

NOW = datetime(2026, 3, 9, 14, 0, 0, tzinfo=UTC)
DATE_10AM = "Mon, 09 Mar 2026 10:00:00 GMT"
KEY = "fake-key-THIS-MUST-NEVER-SHOW"


def _response(status: int, headers: dict[str, str] | None = None, body: object = None) -> Any:
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(status, headers=headers or {}, content=content)


def _map(response: httpx.Response, job_id: str | None = "ft-1") -> ProviderError:
    return error_for_response("prov", response, path="fine-tunes/ft-1", job_id=job_id, now=NOW)


@pytest.mark.parametrize(
    ("provider", "fixture", "error_type", "wait"),
    [
        ("together", "error_401.json", ProviderAuthError, None),
        ("together", "error_404.json", ProviderNotFound, None),
        ("together", "error_429.json", ProviderUnavailable, 2.0),  # retry-after: 2
        ("together", "error_503.json", ProviderUnavailable, None),
        ("openai", "error_401_invalid_key.json", ProviderAuthError, None),
        ("openai", "error_404_not_found.json", ProviderNotFound, None),
        ("openai", "error_429_rate_limit.json", ProviderUnavailable, 3.0),
        # billing, not a rate limit: retrying cannot help
        ("openai", "error_429_insufficient_quota.json", ProviderQuotaError, None),
        ("openai", "error_500.json", ProviderUnavailable, None),
    ],
)
def test_fixture_error_envelopes_map_to_the_right_class(
    fixture_json: Load, provider: str, fixture: str, error_type: type[Exception], wait: float | None
) -> None:
    """Every recorded error body and its headers land on exactly one ftmon error."""
    envelope = fixture_json(provider, fixture)
    error = _map(_response(envelope["http_status"], envelope["headers"], envelope["body"]))
    assert type(error) is error_type
    assert error.status_code == envelope["http_status"]
    if isinstance(error, ProviderUnavailable):  # the one retryable class
        assert error.retry_after == wait


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (402, ProviderQuotaError),  # Together: spending limit or credits exhausted
        (408, ProviderUnavailable),
        (409, ProviderUnavailable),
        (429, ProviderUnavailable),
        (500, ProviderUnavailable),
        (502, ProviderUnavailable),
        (503, ProviderUnavailable),
        (504, ProviderUnavailable),
        (520, ProviderUnavailable),  # Cloudflare
        (524, ProviderUnavailable),  # Cloudflare timeout
        (529, ProviderUnavailable),  # overloaded
        (400, ProviderError),  # a request we should never send: permanent, not retried
        (422, ProviderError),
        (302, ProviderError),  # redirects are not followed
    ],
)
def test_status_code_table(status: int, error_type: type[ProviderError]) -> None:
    """Retryable vs permanent is decided by status code alone (bodies may be empty)."""
    error = _map(_response(status))
    assert type(error) is error_type
    assert error.status_code == status


def test_a_404_is_not_found_only_on_a_job_path() -> None:
    """A 404 on the list path is a wrong base URL, not a vanished job."""
    assert isinstance(_map(_response(404), job_id="ft-9"), ProviderNotFound)
    on_list = _map(_response(404), job_id=None)
    assert type(on_list) is ProviderError  # not ProviderUnavailable: not retried


def test_not_found_names_the_job() -> None:
    error = _map(_response(404), job_id="ftjob-gone")
    assert isinstance(error, ProviderNotFound)
    assert error.job_id == "ftjob-gone"


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the ms header wins
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "Mon, 09 Mar 2026 14:00:30 GMT"}, 30.0),  # an HTTP date, from now
        ({"retry-after": "Mon, 09 Mar 2026 13:59:00 GMT"}, 0.0),  # in the past: go now
        # measured from the server's Date header when present (no clock skew)
        (
            {
                "retry-after": "Mon, 09 Mar 2026 10:00:45 GMT",
                "date": "Mon, 09 Mar 2026 10:00:00 GMT",
            },
            45.0,
        ),
        ({"x-ratelimit-reset": "2"}, 2.0),  # Together's suggested interval
        ({"retry-after": "4", "x-ratelimit-reset": "2"}, 4.0),
        ({"x-ratelimit-reset": str(NOW.timestamp() + 12)}, 12.0),  # an absolute unix time
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after-ms": "nan", "retry-after": "1"}, 1.0),
    ],
)
def test_retry_after_table(headers: dict[str, str], wait: float | None) -> None:
    """`retry-after-ms`, else `Retry-After` (seconds or date), else `x-ratelimit-reset`."""
    got = retry_after(httpx.Headers(headers), NOW)
    assert got == (pytest.approx(wait) if wait is not None else None)


def test_retry_after_rides_on_every_retryable_status() -> None:
    """A 503 with Retry-After tells the caller how long to back off."""
    error = _map(_response(503, {"retry-after": "11"}))
    assert isinstance(error, ProviderUnavailable)
    assert error.retry_after == 11.0


@pytest.mark.parametrize("status", [401, 403, 429, 500, 400])
def test_the_api_key_never_reaches_an_error_message(status: int) -> None:
    """Even a body that echoes the key is not quoted for auth errors or truncated past it."""
    body = {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "auth"}}
    error = _map(_response(status, body=body if status in (401, 403) else None))
    assert KEY not in str(error)
    assert KEY not in repr(error)


@pytest.mark.parametrize(
    "content",
    [b"", b'{"data": [', b"<html>502 Bad Gateway</html>", b'{"data": []}}', b"\xff\xfe\x00"],
)
def test_malformed_or_truncated_json_is_a_schema_error(content: bytes) -> None:
    """A 200 whose body is not JSON names the body and the job."""
    with pytest.raises(ProviderSchemaError) as info:
        decode_json("prov", content, "ft-1")
    assert (info.value.field, info.value.job_id) == ("<body>", "ft-1")


def test_nan_survives_decoding() -> None:
    """Python's json accepts NaN/Infinity, which metrics may carry."""
    assert decode_json("prov", b'{"loss": NaN, "x": -Infinity}', None) is not None


@pytest.mark.parametrize(
    ("job_id", "path"),
    [
        ("ft-1", "fine-tunes/ft-1/events"),
        ("../../admin", "fine-tunes/..%2F..%2Fadmin/events"),
        ("a b?c", "fine-tunes/a%20b%3Fc/events"),
    ],
)
def test_job_ids_cannot_escape_their_path_segment(job_id: str, path: str) -> None:
    assert job_path("fine-tunes", job_id, "events") == path


async def test_the_http_client_carries_auth_agent_and_timeouts() -> None:
    """Bearer auth, `ftmon/<version>`, explicit timeouts; the key stays out of repr."""
    cfg = ProviderConfig(
        name="p",
        kind=ProviderKind.TOGETHER,
        api_key=Secret(KEY),
        base_url="http://127.0.0.1:9/v1",
    )
    async with build_http_client(cfg) as client:
        assert client.headers["authorization"] == f"Bearer {KEY}"
        assert client.headers["user-agent"].startswith("ftmon/")
        assert client.timeout == TIMEOUT
        assert (TIMEOUT.connect, TIMEOUT.read, TIMEOUT.write, TIMEOUT.pool) == (5, 30, 10, 5)
        assert str(client.base_url) == "http://127.0.0.1:9/v1/"
        assert KEY not in repr(cfg)
