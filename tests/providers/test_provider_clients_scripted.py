"""Both clients over real HTTP against a scripted loopback server: requests and paging.

The scripted server (`provider_testkit`) records every request, so paging is checked
request by request: which cursors were sent, and that no page was read that was not
needed. Its fault replies are exercised in `test_provider_scripted_faults.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from provider_testkit import Reply, ScriptedServer, load_fixture

from monitor.core.errors import (
    ProviderSchemaError,
)
from monitor.core.model import ProviderKind, Status
from monitor.core.settings import ProviderConfig, Secret
from monitor.providers import OpenAIClient, TogetherClient

KEY = "fake-key-scripted-SECRET-1234"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _cfg(kind: ProviderKind, base_url: str) -> ProviderConfig:
    return ProviderConfig(name=f"{kind}-test", kind=kind, api_key=Secret(KEY), base_url=base_url)


def _openai_job(i: int) -> dict[str, Any]:
    created = int((T0 + timedelta(minutes=1000 - i)).timestamp())  # i = 0 is the newest
    return {"id": f"ftjob-{i:04d}", "status": "running", "created_at": created}


def _openai_event(i: int) -> dict[str, Any]:
    created = int((T0 + timedelta(seconds=10_000 - i)).timestamp())
    return {"id": f"ftevent-{i:04d}", "created_at": created, "level": "info", "message": str(i)}


def paged(items: list[dict[str, Any]], page_size: int | None = None) -> Any:
    """An OpenAI-style cursor list: `limit` (or a fixed page size) and `after=<id>`."""

    def route(seen: Any) -> Reply:
        limit = page_size or int(seen.query.get("limit", "20"))
        after = seen.query.get("after")
        start = 0 if after is None else [it["id"] for it in items].index(after) + 1
        more = start + limit < len(items)
        page = items[start : start + limit]
        return Reply.json({"object": "list", "data": page, "has_more": more})

    return route


# --- Together: one request per call ----------------------------------------------------


async def test_together_lists_with_one_bare_request(scripted_server: ScriptedServer) -> None:
    """`GET /fine-tunes` once, no params; bearer key and user agent on the wire."""
    scripted_server.serve("fine-tunes", Reply.json(load_fixture("together", "list_jobs.json")))
    client = TogetherClient(_cfg(ProviderKind.TOGETHER, scripted_server.base_url))
    try:
        jobs = await client.list_jobs(created_after=datetime(2026, 3, 12, tzinfo=UTC))
    finally:
        await client.aclose()
    (seen,) = scripted_server.requests
    assert (seen.method, seen.path, seen.query) == ("GET", "fine-tunes", {})
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["user-agent"].startswith("ftmon/")
    assert [j.raw_status for j in jobs] == ["queued", "running", "error", "user_error"]


async def test_together_job_endpoints(scripted_server: ScriptedServer) -> None:
    """retrieve, events, checkpoints and metrics each read their own path once."""
    job_id = "ft-de403361-f63b-49e4-abde-6c2805b3f0e6"
    for suffix, fixture in [
        ("", "job_running.json"),
        ("/events", "events_success.json"),
        ("/checkpoints", "checkpoints.json"),
        ("/metrics", "metrics.json"),
    ]:
        scripted_server.serve(
            f"fine-tunes/{job_id}{suffix}", Reply.json(load_fixture("together", fixture))
        )
    client = TogetherClient(_cfg(ProviderKind.TOGETHER, scripted_server.base_url))
    try:
        job = await client.retrieve(job_id)
        events = await client.events(job_id, after_key="ignored-by-together")
        points = await client.checkpoints(job_id)
        rows = await client.metrics(job_id)
    finally:
        await client.aclose()
    assert job.status is Status.RUNNING and len(job.events) == 9
    assert len(events) == 20 and events[0].type == "job_pending"
    assert [c.step for c in points] == [48, 72, 72]
    assert len(rows) == 75
    assert len(scripted_server.requests) == 4


# --- OpenAI: paging only as far as needed --------------------------------------------


@pytest.mark.parametrize(
    ("created_after", "requests", "returned"),
    [
        (None, 3, 250),  # everything: pages of 100, 100, 50
        (T0 + timedelta(minutes=1000 - 150), 2, 150),  # the bound falls on page 2
        # page 1's last job is exactly at the bound: nothing older can qualify, no page 2
        (T0 + timedelta(minutes=1000 - 99), 1, 99),
        # one minute older and page 2 must be read to find out
        (T0 + timedelta(minutes=1000 - 100), 2, 100),
        (T0 + timedelta(minutes=1000 - 20), 1, 20),
        (T0 + timedelta(days=1), 1, 0),  # nothing new at all: still one request
    ],
)
async def test_openai_list_reads_only_the_pages_it_needs(
    scripted_server: ScriptedServer, created_after: datetime | None, requests: int, returned: int
) -> None:
    """`limit=100`, `after=<last id>` only while the page still reaches past the bound."""
    scripted_server.serve("fine_tuning/jobs", paged([_openai_job(i) for i in range(250)]))
    client = OpenAIClient(_cfg(ProviderKind.OPENAI, scripted_server.base_url))
    try:
        jobs = await client.list_jobs(created_after=created_after)
    finally:
        await client.aclose()
    assert scripted_server.count("fine_tuning/jobs") == requests
    assert len(jobs) == returned
    assert [r.query.get("after") for r in scripted_server.requests] == [None] + [
        f"ftjob-{100 * (n + 1) - 1:04d}" for n in range(requests - 1)
    ]
    assert all(r.query["limit"] == "100" for r in scripted_server.requests)


@pytest.mark.parametrize(
    ("after_key", "requests", "returned"),
    [
        (None, 3, 250),  # first read: the whole log
        ("ftevent-0030", 1, 30),  # the known id is on page 1: stop there
        ("ftevent-0000", 1, 0),  # nothing new
        ("ftevent-0150", 2, 150),
        ("ftevent-gone", 3, 250),  # an id no longer served: read it all
    ],
)
async def test_openai_events_stop_at_the_known_id(
    scripted_server: ScriptedServer, after_key: str | None, requests: int, returned: int
) -> None:
    """Only events newer than `after_key` come back, oldest first, with no extra request."""
    path = "fine_tuning/jobs/ftjob-1/events"
    scripted_server.serve(path, paged([_openai_event(i) for i in range(250)]))
    client = OpenAIClient(_cfg(ProviderKind.OPENAI, scripted_server.base_url))
    try:
        events = await client.events("ftjob-1", after_key=after_key)
    finally:
        await client.aclose()
    assert scripted_server.count(path) == requests
    assert [e.key for e in events] == [f"ftevent-{i:04d}" for i in reversed(range(returned))]


async def test_openai_checkpoints_follow_has_more(scripted_server: ScriptedServer) -> None:
    """A server that pages by 5 regardless of `limit` is followed to the end."""
    items = [
        {"id": f"ftckpt_{i}", "created_at": 1773070000 + i, "step_number": 10 * i}
        for i in range(12, 0, -1)
    ]
    path = "fine_tuning/jobs/ftjob-1/checkpoints"
    scripted_server.serve(path, paged(items, page_size=5))
    client = OpenAIClient(_cfg(ProviderKind.OPENAI, scripted_server.base_url))
    try:
        points = await client.checkpoints("ftjob-1")
    finally:
        await client.aclose()
    assert scripted_server.count(path) == 3
    assert [c.step for c in points] == [10 * i for i in range(1, 13)]


async def test_openai_paging_that_never_advances_is_an_error(
    scripted_server: ScriptedServer,
) -> None:
    """has_more forever on the same page stops after the repeat, as a schema error."""
    page = {"object": "list", "data": [_openai_job(0)], "has_more": True}
    scripted_server.serve("fine_tuning/jobs", Reply.json(page))
    client = OpenAIClient(_cfg(ProviderKind.OPENAI, scripted_server.base_url))
    try:
        with pytest.raises(ProviderSchemaError) as info:
            await client.list_jobs(created_after=None)
    finally:
        await client.aclose()
    assert info.value.field == "has_more"
    assert scripted_server.count("fine_tuning/jobs") == 2
