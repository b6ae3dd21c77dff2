"""The simulator's OpenAI webhooks: what it sends, when, how it retries, and its switches.

A real HTTP receiver on loopback takes the deliveries; the simulator runs on a manual
clock, so a job ends exactly when the test moves time past its last step.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from monitor.simulator import ManualClock, Simulator
from tests.receivers import HttpReceiver
from tests.waiting import wait_for

SECRET = "whsec_" + base64.b64encode(b"simulator-webhook-test-key").decode()
START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(clock=ManualClock(START)) as s:
        yield s


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.close()


def failed_job(sim: Simulator) -> str:
    return sim.add_scenario("openai_failure").job_id


def test_a_terminal_change_is_sent_signed_and_thin(sim: Simulator, receiver: HttpReceiver) -> None:
    """Once the job fails: one POST, verifiable with the secret (the reference library),
    carrying only the event id, type, time and job id."""
    job = failed_job(sim)
    sim.webhooks.configure(f"{receiver.url}/hook", SECRET)
    sim.advance(timedelta(minutes=5))
    wait_for(lambda: len(receiver.bodies()) == 1, 10, "the delivery")
    request = receiver.bodies()[0]
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["type"] == "fine_tuning.job.failed"
    assert payload["data"] == {"id": job}
    assert payload["id"] == request.headers["webhook-id"]
    assert set(payload) == {"id", "object", "created_at", "type", "data"}


def test_non_2xx_is_retried_with_backoff(sim: Simulator, receiver: HttpReceiver) -> None:
    """Two 503s, then 200: three attempts of the same event, each later than the last."""
    receiver.fail_next(2, 503)
    failed_job(sim)
    sim.webhooks.configure(f"{receiver.url}/hook", SECRET, backoff=0.05)
    sim.advance(timedelta(minutes=5))
    wait_for(lambda: len(sim.webhooks.deliveries()) == 3, 10, "three attempts")
    attempts = sim.webhooks.deliveries()
    assert [(d.attempt, d.status) for d in attempts] == [(1, 503), (2, 503), (3, 200)]
    assert len({d.event_id for d in attempts}) == 1
    assert attempts[0].sent_at < attempts[1].sent_at < attempts[2].sent_at
    ids = {r.headers["webhook-id"] for r in receiver.bodies()}
    assert len(ids) == 1


def test_switches_duplicate_and_off(sim: Simulator, receiver: HttpReceiver) -> None:
    """duplicate=1: every event is delivered twice under one id; enabled=False: a later
    ending sends nothing; jobs already finished at configure time never send."""
    done_before = failed_job(sim)
    sim.advance(timedelta(minutes=5))
    first = failed_job(sim)
    sim.webhooks.configure(f"{receiver.url}/hook", SECRET, duplicate=1.0)
    sim.advance(timedelta(minutes=5))
    wait_for(lambda: len(receiver.bodies()) == 2, 10, "the duplicate")
    sent = [json.loads(r.body)["data"]["id"] for r in receiver.bodies()]
    assert sent == [first, first]
    assert done_before not in sent
    sim.webhooks.configure(enabled=False)
    failed_job(sim)
    sim.advance(timedelta(minutes=5))
    time.sleep(0.3)  # several scans of the sender: nothing may be sent
    assert len(receiver.bodies()) == 2
