"""The real provider clients against a hostile provider: nothing it sends gets past the
boundary as a key, a crash, an endless wait or an unbounded buffer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import pytest

from monitor.core.errors import ProviderSchemaError, ProviderUnavailable
from monitor.core.model import ProviderKind
from monitor.core.redact import MASK
from monitor.core.settings import ProviderConfig, Secret
from monitor.core.text import REPLACEMENT
from monitor.providers import http_client, make_client
from monitor.providers.base import ProviderClient
from monitor.providers.pacing import MAX_PAUSE
from tests.hostile.payloads import KEY, deep_list, endless_list, job, job_list, serve_together
from tests.hostile.server import Answer, HostileServer


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


@pytest.fixture
async def client(server: HostileServer) -> AsyncIterator[ProviderClient]:
    cfg = ProviderConfig(
        name="tg",
        kind=ProviderKind.TOGETHER,
        api_key=Secret(KEY),
        base_url=f"{server.url}/v1",
        max_response_mb=1,
    )
    together = make_client(cfg)
    yield together
    await together.aclose()


async def test_an_error_body_echoing_the_key_is_quoted_masked(
    server: HostileServer, client: ProviderClient
) -> None:
    """A 503 whose message repeats the Authorization header: retryable, key masked."""
    body = {"error": {"message": f"upstream rejected Authorization: Bearer {KEY}"}}
    server.answer("/v1/fine-tunes", Answer.json(body, 503, headers={"x-request-id": "req-42"}))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.list_jobs(created_after=None)
    assert KEY not in str(caught.value)
    assert f"Bearer {MASK}" in str(caught.value)
    assert "[request req-42]" in str(caught.value)


async def test_a_job_and_its_log_echoing_the_key_are_masked(
    server: HostileServer, client: ProviderClient
) -> None:
    """The key inside any field of a 2xx answer (a model name, an event) never comes out."""
    serve_together(server, "/v1", job("ft-1", model=f"echo {KEY}"))
    event = {"created_at": "2026-03-16T09:01:00Z", "type": "error", "message": f"key {KEY}"}
    server.answer("/v1/fine-tunes/ft-1/events", Answer.json({"data": [event]}))
    (snapshot,) = await client.list_jobs(created_after=None)
    (logged,) = await client.events("ft-1", after_key=None)
    assert snapshot.model == f"echo {MASK}"
    assert logged.message == f"key {MASK}"


@pytest.mark.parametrize("chunk", [3, len(KEY) - 1, 4096])
async def test_a_list_read_as_it_arrives_masks_a_key_cut_by_the_socket(
    server: HostileServer, client: ProviderClient, chunk: int
) -> None:
    """The job list is parsed as its bytes arrive: the key is masked even where the
    provider's chunks cut it in two."""
    jobs = [job(f"ft-{n}", model=f"echo {KEY} {KEY}{KEY}") for n in range(3)]
    body = json.dumps({"data": jobs}).encode()
    server.answer("/v1/fine-tunes", Answer(body=body, chunk=chunk, trickle=0.002))
    listed = await client.list_jobs(created_after=None)
    assert {s.model for s in listed} == {f"echo {MASK} {MASK}{MASK}"}


async def test_a_list_that_breaks_off_after_its_first_jobs_is_a_schema_error(
    server: HostileServer, client: ProviderClient
) -> None:
    """Jobs already read from a list that then turns to garbage are not a partial list:
    the poll fails (a partial list must never look like jobs vanished)."""
    good = json.dumps({"data": [job("ft-1"), job("ft-2")]}).encode()
    server.answer("/v1/fine-tunes", Answer(body=good[:-2] + b", oops]}"))
    with pytest.raises(ProviderSchemaError, match="invalid JSON after 2 jobs"):
        await client.list_jobs(created_after=None)


async def test_a_dropped_connection_is_described_in_our_words(
    server: HostileServer, client: ProviderClient
) -> None:
    """A body cut short: a retryable error that names what failed, not the library's text."""
    server.answer("/v1/fine-tunes", Answer(body=b'{"data": [', length=10_000, close=True))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.list_jobs(created_after=None)
    assert "on fine-tunes" in str(caught.value)
    assert "(RemoteProtocolError)" in str(caught.value)  # the class, never its message
    assert "peer closed" not in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "field", "read"),
    [
        # an estimate of 31,000 years would overflow the ETA: no estimate
        ({"status": "running", "started_at": "2026-03-09T14:00:00Z",
          "progress": {"estimate_available": True, "seconds_remaining": 1e12}},
         "estimated_finish", None),
        # an epoch count beyond any job would overflow first-epoch x epochs: no count
        ({"n_epochs": 10**30}, "n_epochs", None),
        # a time at the end of the calendar overflows as soon as a threshold is added
        ({"started_at": "9999-12-31T23:59:59Z"}, "started_at", None),
        # an ordinary value passes
        ({"n_epochs": 3}, "n_epochs", 3),
    ],
)  # fmt: skip
async def test_values_out_of_range_read_as_absent(
    server: HostileServer,
    client: ProviderClient,
    extra: dict[str, object],
    field: str,
    read: object,
) -> None:
    serve_together(server, "/v1", job("ft-1", **extra))
    (snapshot,) = await client.list_jobs(created_after=None)
    assert getattr(snapshot, field) == read


async def test_nesting_deeper_than_the_stack_is_a_schema_error(
    server: HostileServer, client: ProviderClient
) -> None:
    """A list nested 100,000 deep: an unreadable payload (a poll error), not a RecursionError."""
    server.answer("/v1/fine-tunes", Answer(body=deep_list(100_000)))
    with pytest.raises(ProviderSchemaError):
        await client.list_jobs(created_after=None)
    server.answer("/v1/fine-tunes/ft-1", Answer(body=deep_list(100_000)))
    with pytest.raises(ProviderSchemaError):
        await client.retrieve("ft-1")


async def test_a_lone_surrogate_in_a_job_id_is_replaced(
    server: HostileServer, client: ProviderClient
) -> None:
    """`\\ud800` in a job id: the id is readable, storable and usable in a URL."""
    raw = json.dumps({"data": [job("ft-\ud800")]}).encode()
    assert b"\\ud800" in raw
    server.answer("/v1/fine-tunes", Answer(body=raw))
    server.answer("/v1/fine-tunes/", Answer.json({"data": []}))
    (snapshot,) = await client.list_jobs(created_after=None)
    assert snapshot.id == f"ft-{REPLACEMENT}"
    assert await client.events(snapshot.id, after_key=None) == []


async def test_a_retry_after_of_a_year_is_capped(
    server: HostileServer, client: ProviderClient
) -> None:
    """429 with Retry-After one year: the wait asked of the caller and the pacer is five minutes."""
    server.answer("/v1/fine-tunes", Answer.json({}, 429, headers={"Retry-After": "31536000"}))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.list_jobs(created_after=None)
    assert caught.value.retry_after == MAX_PAUSE
    assert client._http.pacer.delay() <= MAX_PAUSE  # type: ignore[attr-defined]


async def test_a_rate_limit_reset_of_a_day_is_capped(
    server: HostileServer, client: ProviderClient
) -> None:
    """A 200 saying no request is left for 86,400 s holds the next one at most five minutes."""
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "86400"}
    server.answer("/v1/fine-tunes", Answer(body=job_list().body, headers=headers))
    await client.list_jobs(created_after=None)
    assert 0 < client._http.pacer.delay() <= MAX_PAUSE  # type: ignore[attr-defined]


async def test_a_huge_body_is_refused_without_being_buffered(
    server: HostileServer, client: ProviderClient
) -> None:
    """400 MiB streamed at the client (limit 1 MiB): a schema error, and the server could
    send little more than the limit before the connection was closed."""
    server.answer("/v1/fine-tunes", Answer(body=lambda: endless_list(400)))
    with pytest.raises(ProviderSchemaError, match="larger than max_response_mb = 1"):
        await client.list_jobs(created_after=None)


async def test_a_trickled_body_hits_the_request_deadline(
    server: HostileServer, client: ProviderClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One byte every 0.2 s never trips a read timeout; the total deadline ends it."""
    monkeypatch.setattr(http_client, "REQUEST_DEADLINE", 1.0)
    body = job_list(job("ft-1")).body
    server.answer("/v1/fine-tunes", Answer(body=body, chunk=1, trickle=0.2))
    with pytest.raises(ProviderUnavailable, match="no complete answer within 1s"):
        await client.list_jobs(created_after=None)
