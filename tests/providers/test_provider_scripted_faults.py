"""Faults at the socket and HTTP level, over real loopback HTTP: one ftmon error each.

The scripted server answers with exact bytes, so a body cut short, a hang-up or a slow
answer happens on the wire as it would in production; a closed port gives a real refusal.
"""

from __future__ import annotations

import socket

import pytest
from provider_testkit import Reply, ScriptedServer, short_timeouts

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
from monitor.providers import make_client
from monitor.providers.base import ProviderClient

KEY = "fake-key-scripted-SECRET-1234"


def _cfg(kind: ProviderKind, base_url: str) -> ProviderConfig:
    return ProviderConfig(name=f"{kind}-test", kind=kind, api_key=Secret(KEY), base_url=base_url)


# --- faults: every one maps onto one ftmon error ---------------------------------------

JSON_ERR = b'{"error": {"message": "x", "type": "server_error"}}'
QUOTA = b'{"error": {"message": "q", "type": "insufficient_quota", "code": "insufficient_quota"}}'
Unavailable = ProviderUnavailable


def _status(code: int, body: bytes = JSON_ERR, **headers: str) -> Reply:
    """An error answer; header names are spelled with underscores here."""
    return Reply(
        status=code, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )


FAULTS: list[tuple[str, Reply, type[ProviderError], float | None]] = [
    ("500", _status(500), Unavailable, None),
    ("502-html", _status(502, b"<html>bad gateway</html>"), Unavailable, None),
    ("503-retry-after", _status(503, retry_after="4"), Unavailable, 4.0),
    ("520", _status(520, b""), Unavailable, None),
    ("524", _status(524, b""), Unavailable, None),
    ("529", _status(529), Unavailable, None),
    ("408", _status(408, b""), Unavailable, None),
    ("409", _status(409, b""), Unavailable, None),
    ("429-retry-after-ms", _status(429, retry_after_ms="1500"), Unavailable, 1.5),
    ("429-ratelimit-reset", _status(429, x_ratelimit_reset="2"), Unavailable, 2.0),
    ("429-quota", _status(429, QUOTA), ProviderQuotaError, None),
    ("401", _status(401), ProviderAuthError, None),
    ("403", _status(403, b""), ProviderAuthError, None),
    ("truncated", Reply(body=b'{"data": [{"id": "ft-1", "sta'), ProviderSchemaError, None),
    ("malformed", Reply(body=b"{'data': []}"), ProviderSchemaError, None),
    ("not-json", Reply(body=b"<html>maintenance</html>"), ProviderSchemaError, None),
    ("wrong-shape", Reply(body=b'{"jobs": []}'), ProviderSchemaError, None),
    (
        "dropped-mid-body",
        Reply(body=b'{"data": []}' + b" " * 500, drop_after=40),
        Unavailable,
        None,
    ),
    ("hang-up", Reply(hang_up=True), Unavailable, None),
    ("slow", Reply(body=b'{"data": []}', delay=1.0), Unavailable, None),
]

LIST_PATHS = {ProviderKind.TOGETHER: "fine-tunes", ProviderKind.OPENAI: "fine_tuning/jobs"}


@pytest.mark.parametrize("kind", list(ProviderKind))
@pytest.mark.parametrize(
    ("reply", "error_type", "wait"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS]
)
async def test_every_fault_maps_to_one_error_class(
    scripted_server: ScriptedServer,
    kind: ProviderKind,
    reply: Reply,
    error_type: type[ProviderError],
    wait: float | None,
) -> None:
    """Each fault raises exactly its ftmon error (with retry_after), never anything else."""
    scripted_server.serve(LIST_PATHS[kind], reply)
    client = make_client(_cfg(kind, scripted_server.base_url), transport=short_timeouts())
    try:
        with pytest.raises(ProviderError) as info:
            await client.list_jobs(created_after=None)
    finally:
        await client.aclose()
    assert type(info.value) is error_type
    assert getattr(info.value, "retry_after", None) == wait
    assert KEY not in str(info.value)
    assert len(scripted_server.requests) == 1  # the client never retries by itself


@pytest.mark.parametrize("kind", list(ProviderKind))
async def test_a_404_on_a_job_names_the_job(
    scripted_server: ScriptedServer, kind: ProviderKind
) -> None:
    """retrieve, events and checkpoints of a vanished job raise ProviderNotFound(job_id)."""
    client: ProviderClient = make_client(_cfg(kind, scripted_server.base_url))
    try:
        for call in (
            client.retrieve("job-gone"),
            client.events("job-gone", after_key=None),
            client.checkpoints("job-gone"),
        ):
            with pytest.raises(ProviderNotFound) as info:
                await call
            assert info.value.job_id == "job-gone"
        with pytest.raises(ProviderError) as on_list:
            await client.list_jobs(created_after=None)
    finally:
        await client.aclose()
    assert type(on_list.value) is ProviderError  # a 404 on the list is not a vanished job


@pytest.mark.parametrize("kind", list(ProviderKind))
async def test_connection_refused_is_unavailable(kind: ProviderKind) -> None:
    """Nothing listening on the port: retryable, like any transport failure."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(_cfg(kind, f"http://127.0.0.1:{port}/v1"))
    try:
        with pytest.raises(ProviderUnavailable) as info:
            await client.list_jobs(created_after=None)
    finally:
        await client.aclose()
    assert KEY not in str(info.value)
