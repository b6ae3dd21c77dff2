"""The clock going backwards (an NTP step, a restored VM): times ftmon stored in the future
are noticed and replanned, so nothing waits out the jump."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app import wiring
from monitor.app.scheduler import PollScheduler
from monitor.app.wiring import Runtime
from monitor.core import rewind
from monitor.core.alerts import Kind
from monitor.core.memory import Condition, ProviderHealth
from monitor.core.samples import sample_alert
from monitor.core.settings import RouteConfig
from monitor.delivery.channels import AppriseChannel
from monitor.delivery.dispatch import Dispatcher
from monitor.storage.sqlite import SqliteStore
from tests.clock import Clock
from tests.hostile.payloads import KEY, OTHER_KEY, job, serve_together, two_providers
from tests.hostile.server import Answer, HostileServer

NOW = datetime(2026, 3, 16, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)  # where the clock was before it stepped back


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        # nothing in the future: the very same record
        (ProviderHealth(failing_since=NOW - timedelta(minutes=3)), None),
        # failing since tomorrow: failing since now
        (ProviderHealth(failing_since=LATER), ProviderHealth(failing_since=NOW)),
        # a condition opened tomorrow restarts its clock now
        (ProviderHealth(conditions={"x": Condition(since=LATER, notified_at=LATER)}),
         ProviderHealth(conditions={"x": Condition(since=NOW, notified_at=NOW)})),
        # a few seconds ahead is jitter, not a jump
        (ProviderHealth(failing_since=NOW + timedelta(seconds=2)), None),
    ],
)  # fmt: skip
def test_health_at(health: ProviderHealth, expected: ProviderHealth | None) -> None:
    moved = rewind.health_at(health, NOW)
    assert moved is health if expected is None else moved == expected


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


@pytest.fixture
async def runtime(tmp_path: Path, server: HostileServer) -> AsyncIterator[Runtime]:
    rt = wiring.open_runtime(two_providers(tmp_path, server), Clock(NOW))
    yield rt
    await rt.aclose()


async def test_provider_down_is_not_suppressed_by_a_failure_stored_in_the_future(
    runtime: Runtime, server: HostileServer
) -> None:
    """`bad` failed first at a clock a day ahead; back at the true time it keeps failing:
    provider_down fires `provider_down` (1 min) after now, not a day later."""
    serve_together(server, "/good", job("ft-good"))
    server.answer("/bad/fine-tunes", Answer.json({"error": {"message": "down"}}, 503))
    clock: Clock = runtime.clock  # type: ignore[assignment]
    clock.now = LATER
    await wiring.poll_all(runtime)
    clock.now = NOW
    await wiring.poll_all(runtime)
    clock.now = NOW + timedelta(minutes=2)
    report = await wiring.poll_all(runtime)
    assert Kind.PROVIDER_DOWN in [a.kind for a in report.outcomes[1].enqueued]
    assert KEY not in str(report.summary()) and OTHER_KEY not in str(report.summary())


async def test_deliveries_resume_after_the_clock_goes_back(
    server: HostileServer, tmp_path: Path
) -> None:
    """A send failed at a clock a day ahead and was planned for retry then; after the step
    back the next pass replans it for now and it is delivered."""
    store = SqliteStore(tmp_path / "state.db")
    server.answer("/hook", Answer(status=503, body=b"busy"))
    store.enqueue([sample_alert(Kind.FAILED, LATER, "f")], LATER)
    clock = [LATER]
    hook = AppriseChannel("hook", f"json://127.0.0.1:{server.port}/hook")
    route = RouteConfig(channels=("hook",), group_wait=timedelta(0))
    dispatcher = Dispatcher(store, {"hook": hook}, (route,), lambda: clock[0], rng=lambda: 0.5)
    assert (await dispatcher.run_once()).retrying == 1
    server.answer("/hook", Answer(body=b"ok"))
    clock[0] = NOW
    assert (await dispatcher.run_once()).delivered == 1
    store.close()


async def test_the_scheduler_pulls_back_jobs_planned_by_the_old_clock() -> None:
    """A job planned a day ahead (as after a step back) runs now after `resync`; one
    within its interval stays."""
    scheduler = PollScheduler()

    async def nothing() -> None:
        return None

    scheduler.add("tg", nothing, 60.0)
    scheduler.add("oa", nothing, 60.0)
    scheduler.start()
    try:
        scheduler.delay("tg", 86_400.0)
        assert scheduler.resync() == ["tg"]
        assert scheduler.resync() == []
    finally:
        scheduler.shutdown()
