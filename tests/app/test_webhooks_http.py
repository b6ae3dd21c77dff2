"""OpenAI webhook verification over real HTTP: known vectors, every refusal, the nudge.

Requests are signed by the simulator's own signer (standard library HMAC), verified by
ftmon's receiver (the `standardwebhooks` reference implementation): two independent
implementations of the same spec, and the signer is pinned to the spec's published vector.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from monitor.app.health import HealthState
from monitor.app.metrics import Metrics
from monitor.app.nudges import LocalNudges
from monitor.app.web import HealthServer
from monitor.app.webhooks import WebhookReceiver
from monitor.simulator.webhooks import sign

SECRET = "whsec_" + base64.b64encode(b"ftmon-test-signing-key-0123456789").decode()
OTHER = "whsec_" + base64.b64encode(b"somebody-else's-key-9876543210").decode()
PROVIDER = "openai-prod"
PATH = f"/webhooks/openai/{PROVIDER}"


def event(job: str = "ftjob-abc", kind: str = "fine_tuning.job.succeeded") -> bytes:
    payload = {"id": "evt_1", "object": "event", "created_at": 1, "type": kind,
               "data": {"id": job}}  # fmt: skip
    return json.dumps(payload).encode()


def signed(
    body: bytes, *, msg_id: str = "msg_1", at: float | None = None, secret: str = SECRET
) -> dict[str, str]:
    stamp = int(time.time() if at is None else at)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, msg_id, stamp, body),
        "content-type": "application/json",
    }


@pytest.fixture
def nudges() -> LocalNudges:
    return LocalNudges()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def http(nudges: LocalNudges, metrics: Metrics) -> AsyncIterator[httpx.AsyncClient]:
    receiver = WebhookReceiver({PROVIDER: SECRET}, nudges, metrics)
    health = HealthState.for_interval(__import__("datetime").timedelta(seconds=60))
    async with HealthServer("127.0.0.1:0", metrics, health, receiver) as server:
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=5) as client:
            yield client


def counts(metrics: Metrics) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == "ftmon_webhooks_total" and s.value:
                out[f"{s.labels['provider']}/{s.labels['outcome']}"] = s.value
    return out


def test_the_signer_matches_the_published_standard_webhooks_vector() -> None:
    """The spec's example: secret, id, timestamp and body give exactly this signature."""
    got = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


async def test_a_valid_delivery_is_acknowledged_and_nudges_the_job(
    http: httpx.AsyncClient, nudges: LocalNudges, metrics: Metrics
) -> None:
    """200, and the poller is asked to read that job."""
    body = event("ftjob-abc")
    response = await http.post(PATH, content=body, headers=signed(body))
    assert (response.status_code, response.text) == (200, "ok\n")
    assert nudges.take(PROVIDER) == {"ftjob-abc"}
    assert counts(metrics) == {f"{PROVIDER}/accepted": 1}


@pytest.mark.parametrize(
    ("case", "status", "outcome"),
    [
        ("wrong secret", 401, "bad_signature"),  # signed with a key that is not ours
        ("tampered body", 401, "bad_signature"),  # body changed after signing
        ("stale", 400, "stale"),  # six minutes old: outside the five-minute window
        ("future", 400, "future"),  # six minutes ahead
        ("no signature", 400, "unsigned"),  # a Standard Webhooks header is missing
        ("garbage timestamp", 400, "stale"),  # not a number
        ("v2 only", 401, "bad_signature"),  # an unknown scheme is no signature
    ],
)
async def test_refused_deliveries_change_nothing(
    http: httpx.AsyncClient, nudges: LocalNudges, metrics: Metrics, case: str, status: int,
    outcome: str,
) -> None:  # fmt: skip
    """Each refusal: its 4xx, no nudge, counted under its outcome."""
    body = event()
    headers = signed(body)
    if case == "wrong secret":
        headers = signed(body, secret=OTHER)
    elif case == "tampered body":
        body = event("ftjob-someone-elses")
    elif case == "stale":
        headers = signed(body, at=time.time() - 360)
    elif case == "future":
        headers = signed(body, at=time.time() + 360)
    elif case == "no signature":
        del headers["webhook-signature"]
    elif case == "garbage timestamp":
        headers["webhook-timestamp"] = "yesterday"
    elif case == "v2 only":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    response = await http.post(PATH, content=body, headers=headers)
    assert response.status_code == status
    assert not nudges.pending(PROVIDER)
    assert counts(metrics) == {f"{PROVIDER}/{outcome}": 1}


async def test_any_listed_signature_may_match(http: httpx.AsyncClient, nudges: LocalNudges) -> None:
    """Several space-separated signatures (a rotating secret): one valid one is enough."""
    body = event("ftjob-rotated")
    headers = signed(body)
    wrong = signed(body, secret=OTHER)["webhook-signature"]
    headers["webhook-signature"] = f"v1a,bm9wZQ== {wrong} {headers['webhook-signature']}"
    assert (await http.post(PATH, content=body, headers=headers)).status_code == 200
    assert nudges.take(PROVIDER) == {"ftjob-rotated"}
    headers["webhook-signature"] = f"v1a,bm9wZQ== {wrong}"
    assert (await http.post(PATH, content=body, headers=headers)).status_code == 401


async def test_a_replay_is_refused_and_a_redelivery_acknowledged_once(
    http: httpx.AsyncClient, nudges: LocalNudges, metrics: Metrics
) -> None:
    """The same signed request again is a replay (409); the same webhook-id with a newer
    timestamp is the sender retrying (200, so it stops), and neither nudges twice."""
    body = event("ftjob-once")
    first = signed(body, msg_id="msg_once", at=time.time() - 5)
    assert (await http.post(PATH, content=body, headers=first)).status_code == 200
    assert nudges.take(PROVIDER) == {"ftjob-once"}
    assert (await http.post(PATH, content=body, headers=first)).status_code == 409
    again = signed(body, msg_id="msg_once")
    response = await http.post(PATH, content=body, headers=again)
    assert (response.status_code, response.text) == (200, "ok (already received)\n")
    assert not nudges.pending(PROVIDER)
    assert counts(metrics) == {
        f"{PROVIDER}/accepted": 1,
        f"{PROVIDER}/replayed": 1,
        f"{PROVIDER}/duplicate": 1,
    }


async def test_other_events_and_malformed_bodies(
    http: httpx.AsyncClient, nudges: LocalNudges, metrics: Metrics
) -> None:
    """A signed event of another type is acknowledged and ignored; a signed body that is
    not an event is a 400; neither nudges."""
    other = event(kind="batch.completed")
    assert (await http.post(PATH, content=other, headers=signed(other))).status_code == 200
    junk = b'{"type": "fine_tuning.job.failed"}'
    junk_headers = signed(junk, msg_id="msg_junk")
    assert (await http.post(PATH, content=junk, headers=junk_headers)).status_code == 400
    assert not nudges.pending(PROVIDER)
    assert counts(metrics) == {f"{PROVIDER}/ignored": 1, f"{PROVIDER}/malformed": 1}


async def test_unknown_providers_and_oversized_bodies(
    http: httpx.AsyncClient, metrics: Metrics
) -> None:
    """No secret for that name: 404 (counted under "(unknown)", never the name it gave);
    a body over 64 KiB: 413 before it is read."""
    body = event()
    assert (await http.post("/webhooks/openai/nope", content=body)).status_code == 404
    big = b"x" * (64 * 1024 + 1)
    assert (await http.post(PATH, content=big, headers=signed(big))).status_code == 413
    assert (await http.get(PATH)).status_code == 405
    assert counts(metrics) == {"(unknown)/unknown_endpoint": 1, f"{PROVIDER}/too_large": 1}


async def test_rejections_are_logged_once_per_source_without_the_body(
    http: httpx.AsyncClient,
) -> None:
    """Fifty bad signatures from one address: one log line, and no body in it."""
    body = b'{"secret-looking": "payload-should-not-be-logged"}'
    with capture_logs() as logs:
        for n in range(50):
            headers = signed(body, msg_id=f"m{n}", secret=OTHER)
            assert (await http.post(PATH, content=body, headers=headers)).status_code == 401
    rejected = [e for e in logs if e["event"] == "webhook_rejected"]
    assert len(rejected) == 1
    assert rejected[0]["outcome"] == "bad_signature"
    assert "payload-should-not-be-logged" not in repr(logs)


async def test_a_reload_swaps_the_secret_and_keeps_the_ids_seen(
    nudges: LocalNudges, metrics: Metrics
) -> None:
    """`configure` (the daemon's SIGHUP): the old secret stops working, the new one works,
    and an id accepted before the reload is still known."""
    receiver = WebhookReceiver({PROVIDER: SECRET}, nudges, metrics)
    body = event("ftjob-before")
    first = signed(body, msg_id="msg_before", at=time.time() - 5)
    assert receiver.receive(PROVIDER, first, body, "127.0.0.1").status == 200
    receiver.configure({PROVIDER: OTHER})
    after = event("ftjob-after")
    assert receiver.receive(PROVIDER, signed(after), after, "127.0.0.1").status == 401
    assert receiver.receive(PROVIDER, signed(after, secret=OTHER), after, "x").status == 200
    replay = signed(body, msg_id="msg_before", secret=OTHER)
    assert receiver.receive(PROVIDER, replay, body, "127.0.0.1").outcome == "duplicate"
    receiver.configure({})
    assert not receiver.accepts(PROVIDER)
