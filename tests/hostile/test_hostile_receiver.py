"""The real dispatcher and apprise against a hostile receiver: one message that can never
be sent holds no other back, and a receiver that never finishes answering holds no one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.alerts import Kind
from monitor.core.render import Message
from monitor.core.samples import sample_alert
from monitor.core.settings import RouteConfig
from monitor.delivery.channels import AppriseChannel
from monitor.delivery.dispatch import Dispatcher
from monitor.delivery.send import MESSAGE_ATTEMPTS
from monitor.storage.sqlite import SqliteStore
from tests.hostile.server import Answer, HostileServer, Seen

T0 = datetime(2026, 3, 16, 12, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def refuse_poison(seen: Seen) -> Answer:
    """413 for any message naming the poisoned model, 200 for every other."""
    return Answer(status=413 if b"poison-model" in seen.body else 200, body=b"ok")


async def test_a_message_that_always_fails_holds_no_other_and_is_given_up(
    receiver: HostileServer, store: SqliteStore
) -> None:
    """A job's alert the receiver always refuses (413), then an unrelated job's
    cancellation: the cancellation goes in the first pass; the refused one is tried alone
    MESSAGE_ATTEMPTS times and given up with that many attempts."""
    receiver.answer("/hook", refuse_poison)
    poisoned = replace(sample_alert(Kind.STARTED, T0, "p"), model="poison-model")
    cancelled = sample_alert(Kind.CANCELLED, T0, "c")
    store.enqueue([poisoned, cancelled], T0)
    clock = [T0]
    hook = AppriseChannel("hook", f"json://127.0.0.1:{receiver.port}/hook")
    route = RouteConfig(channels=("hook",), group_wait=timedelta(0))
    dispatcher = Dispatcher(store, {"hook": hook}, (route,), lambda: clock[0], rng=lambda: 0.0)
    first = await dispatcher.run_once()
    assert (first.delivered, first.retrying) == (1, 1)
    for _ in range(MESSAGE_ATTEMPTS + 2):
        clock[0] += timedelta(hours=1)
        await dispatcher.run_once()
    states = {
        kind: (status, attempts)
        for kind, status, attempts in store.connection.execute(
            "SELECT json_extract(a.payload, '$.kind'), d.status, d.attempts "
            "FROM deliveries d JOIN alerts a ON a.id = d.alert_id"
        )
    }
    assert states == {
        "job.cancelled": ("sent", 1),
        "job.started": ("given_up", MESSAGE_ATTEMPTS),
    }
    refused = [s for s in receiver.requests("/hook") if b"poison-model" in s.body]
    assert len(refused) == MESSAGE_ATTEMPTS


async def test_a_receiver_that_trickles_its_answer_is_abandoned_in_time(
    receiver: HostileServer,
) -> None:
    """200 trickled a byte every half second (no socket read ever times out): the send is
    abandoned at its bound as a retryable timeout, in a thread nobody waits for at exit."""
    receiver.answer("/hook", Answer(body=b"x" * 400, chunk=1, trickle=0.5))
    hook = AppriseChannel("hook", f"json://127.0.0.1:{receiver.port}/hook", timeout=1.0)
    message = Message(title="t", body="b", notify_type="info")
    result = await hook.send(message)
    assert (result.ok, result.retryable) == (False, True)
    assert result.error is not None and result.error.startswith("timed out")
    stuck = [t for t in threading.enumerate() if t.name == "send-hook"]
    assert stuck and all(t.daemon for t in stuck)
    again = await hook.send(message)  # the channel's lock is still held: no new hang
    assert not again.ok and again.retryable
