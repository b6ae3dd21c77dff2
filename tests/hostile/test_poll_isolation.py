"""One provider's strange answer stops nothing else: the real poll service, a real SQLite
file and two providers on a hostile loopback server, polled together."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app import poll_guard, wiring
from monitor.app.health import HealthState
from monitor.app.wiring import Runtime
from monitor.core import provider_poll
from monitor.core.alerts import Kind
from monitor.core.model import JobSnapshot, ProviderKind, Status
from monitor.core.redact import REDACTOR
from monitor.core.settings import (
    Thresholds,
)
from monitor.core.text import REPLACEMENT
from tests.clock import Clock
from tests.hostile.payloads import KEY, OTHER_KEY, deep_list, job, serve_together, two_providers
from tests.hostile.server import Answer, HostileServer
from tests.pollkit import opened

NOW = datetime(2026, 3, 16, 10, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


@pytest.fixture
async def runtime(tmp_path: Path, server: HostileServer) -> AsyncIterator[Runtime]:
    REDACTOR.register([KEY, OTHER_KEY])
    async with opened(two_providers(tmp_path, server), Clock(NOW)) as rt:
        yield rt
    REDACTOR.register([])


async def test_a_crashing_answer_fails_only_its_provider_and_counts_toward_down(
    runtime: Runtime, server: HostileServer
) -> None:
    """`bad` answers a list nested too deep, then a 503 echoing its key; `good` is polled
    and alerted each time, and `bad` is reported down after `provider_down`, key masked."""
    serve_together(server, "/good", job("ft-good"))
    server.answer("/bad/fine-tunes", Answer(body=deep_list(100_000)))
    first = await wiring.poll_all(runtime)
    good, bad = first.outcomes
    assert good.ok and Kind.STARTED in [a.kind for a in good.enqueued]
    assert not bad.ok and "unreadable payload" in (bad.error or "")
    echo = {"error": {"message": f"Authorization: Bearer {KEY}"}}
    server.answer("/bad/fine-tunes", Answer.json(echo, 503))
    runtime.clock.now = NOW + timedelta(minutes=2)  # type: ignore[attr-defined]
    second = await wiring.poll_all(runtime)
    (down,) = [a for a in second.outcomes[1].enqueued if a.kind is Kind.PROVIDER_DOWN]
    assert second.exit_status == wiring.EXIT_FAILURE
    stored = sqlite3.connect(runtime.config.monitor.state).iterdump()
    assert not [line for line in stored if KEY in line]
    assert KEY not in down.to_json() and KEY not in (second.outcomes[1].error or "")


async def test_a_lone_surrogate_job_is_alerted_and_stored(
    runtime: Runtime, server: HostileServer
) -> None:
    """`ft-\\ud800` (an escape JSON allows): stored, alerted, never an encoding crash."""
    server.answer("/good/fine-tunes", Answer(body=b'{"data": [{"id": "ft-\\ud800", '
                  b'"status": "running", "created_at": "2026-03-16T09:00:00Z"}]}'))  # fmt: skip
    server.answer("/good/fine-tunes/", Answer.json({"data": []}))
    serve_together(server, "/bad")
    report = await wiring.poll_all(runtime)
    assert f"ft-{REPLACEMENT}" in {a.job_id for a in report.alerts if a.kind is Kind.STARTED}
    assert [o.ok for o in report.outcomes] == [True, True]


async def test_a_poll_past_its_deadline_is_a_failed_poll(
    runtime: Runtime, server: HostileServer
) -> None:
    """An answer that never comes ends the poll at its deadline: `bad` failed, `good` fine."""
    serve_together(server, "/good", job("ft-good"))
    server.answer("/bad/fine-tunes", Answer(body=b'{"data": []}', delay=30))
    runtime.service.deadline = 0.5
    report = await wiring.poll_all(runtime)
    assert [o.ok for o in report.outcomes] == [True, False]
    assert "the poll did not complete within 0.5s" in (report.outcomes[1].error or "")


def polled(job_id: str) -> provider_poll.PolledJob:
    snapshot = JobSnapshot(
        provider="tg",
        kind=ProviderKind.TOGETHER,
        id=job_id,
        status=Status.RUNNING,
        raw_status="running",
        created_at=NOW - timedelta(hours=1),
    )
    return provider_poll.PolledJob(snapshot=snapshot)


def test_one_job_whose_diff_raises_is_skipped_and_the_rest_committed() -> None:
    """A diff that raises for one job: the others' states and alerts stand, it is counted."""

    def diff(states, jobs, *args, **kw):  # type: ignore[no-untyped-def]
        if any(j.snapshot.id == "ft-poison" for j in jobs):
            raise OverflowError("date value out of range")
        return provider_poll.diff_provider(states, jobs, *args, **kw)

    jobs = [polled("ft-a"), polled("ft-poison"), polled("ft-b")]
    states, alerts, skipped = poll_guard.diff_isolated(
        "tg", {}, jobs, NOW, Thresholds(), poll_guard.DiffFailures(), diff=diff
    )
    assert sorted(s.job_id for s in states) == ["ft-a", "ft-b"]
    assert {a.job_id for a in alerts} == {"ft-a", "ft-b"}
    assert skipped == 1


def test_healthz_names_a_provider_whose_polls_never_complete() -> None:
    """Provider `b` only crashes while `a` succeeds: /healthz turns 503 naming `b`."""
    clock = Clock(NOW)
    health = HealthState(max_age=timedelta(minutes=4), clock=clock)
    health.expect(["a", "b"])
    for minute in range(1, 6):
        clock.now = NOW + timedelta(minutes=minute)
        health.mark_cycle(clock.now, ok=True, provider="a")
        health.mark_cycle(clock.now, ok=False, provider="b", completed=False)
    verdict = health.liveness()
    assert not verdict.ok and "b" in verdict.reason and "a," not in verdict.reason
    health.mark_cycle(clock.now, ok=False, provider="b")  # a failed poll did complete
    assert health.liveness().ok


async def test_a_poll_that_keeps_crashing_is_reported_down(runtime: Runtime) -> None:
    """A bug that crashes every poll of `bad` (not an answer: the code) still counts as a
    failed poll: after `provider_down` the provider is reported down, the bug's class named."""
    clock: Clock = runtime.clock  # type: ignore[assignment]
    first = runtime.service.record_crash("bad", RecursionError("deep"))
    clock.now = NOW + timedelta(minutes=2)
    second = runtime.service.record_crash("bad", RecursionError("deep"))
    assert not first.ok and not first.enqueued
    (down,) = second.enqueued
    assert down.kind is Kind.PROVIDER_DOWN
    assert "internal error while polling (RecursionError)" in (down.detail or "")
