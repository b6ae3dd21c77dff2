"""One job's alerts reach a channel in the order they were raised, whatever the retries
drew; a channel that fails mid-pass is not tried again in that pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.alerts import Alert, Kind
from monitor.core.samples import sample_alert
from monitor.core.settings import RouteConfig
from monitor.delivery.channels import AppriseChannel
from monitor.delivery.dispatch import Dispatcher
from monitor.storage.sqlite import SqliteStore
from tests.receivers import HttpReceiver

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def dispatcher(store: SqliteStore, hook: HttpReceiver, draws: list[float]) -> Dispatcher:
    """Retry jitter drawn from `draws` in turn (1.0 is the longest backoff, 0 the shortest)."""
    channel = {"hook": AppriseChannel("hook", f"json://127.0.0.1:{hook.port}/hook")}
    routes = (RouteConfig(channels=("hook",), group_wait=timedelta(0)),)
    return Dispatcher(store, channel, routes, lambda: T0, rng=lambda: draws.pop(0))


def about(kind: Kind, job: str) -> Alert:
    """A sample alert of `kind` about job `job` of one Together provider."""
    alert = sample_alert(kind, T0, f"{kind}-{job}", provider="together-prod")
    return replace(alert, job_id=job, dedup_key=f"{kind}:{job}", original_job=None)


def delivered(hook: HttpReceiver) -> list[str]:
    return [
        line
        for r, status in zip(hook.requests, hook.answered, strict=True)
        if status == 200
        for line in r.json()["message"].splitlines()
        if line.startswith("kind=")
    ]


async def test_a_later_alert_waits_behind_an_earlier_retry(
    store: SqliteStore, http_receiver: HttpReceiver
) -> None:
    """Started fails with a long backoff; succeeded, raised later, fails with a short one.
    When the channel is back, started still goes first."""
    started, succeeded, other = (
        about(Kind.STARTED, "ft-1"),
        about(Kind.SUCCEEDED, "ft-1"),
        about(Kind.STARTED, "ft-2"),
    )
    d = dispatcher(store, http_receiver, [1.0, 0.0])
    http_receiver.answer_always(503)
    store.enqueue([started], T0)
    await d.run_once(T0)  # started: retry in 10 s
    store.enqueue([succeeded, other], T0)
    report = await d.run_once(T0 + timedelta(seconds=1))  # succeeded waits; job-2 is tried
    assert report.retrying == 1 and len(http_receiver.requests) == 2
    http_receiver.answer_always(200)
    for second in range(2, 40):
        await d.run_once(T0 + timedelta(seconds=second))
    got = delivered(http_receiver)
    assert sorted(got) == sorted(a.label_line() for a in (started, succeeded, other))
    assert got.index(started.label_line()) < got.index(succeeded.label_line())


async def test_a_failing_channel_is_not_tried_again_in_the_same_pass(
    store: SqliteStore, http_receiver: HttpReceiver
) -> None:
    """Three messages due, the first fails: one request, the other two wait as long."""
    alerts = [sample_alert(Kind.CANCELLED, T0, f"job-{i}") for i in range(3)]
    http_receiver.answer_always(503)
    store.enqueue(alerts, T0)
    d = dispatcher(store, http_receiver, [0.5])
    report = await d.run_once(T0)
    assert len(http_receiver.requests) == 1
    assert report.next_due is not None
    waiting = store.connection.execute(
        "SELECT DISTINCT next_attempt_at FROM deliveries WHERE status = 'pending'"
    ).fetchall()
    assert len(waiting) == 1  # all three come due together, in order
