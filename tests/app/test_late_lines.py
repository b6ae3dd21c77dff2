"""What a finished job still has to say, and what retention forgot, over real poll cycles.

Together writes the restart and the refund of a job that died of an internal error about
a hundred seconds after its status became `error`. A poll that saw the error first must
still read those lines; a job retention forgot must not come back as new.
"""

from __future__ import annotations

from datetime import timedelta

from monitor.app import wiring
from monitor.app.wiring import Runtime
from monitor.core import plan
from monitor.simulator import Simulator
from tests.core.factories import T0, together


async def kinds(rt: Runtime) -> list[str]:
    report = await wiring.poll_all(rt)
    return [str(a.kind) for a in report.alerts]


async def test_a_refund_written_after_the_end_is_alerted(sim: Simulator, runtime: Runtime) -> None:
    """Polled between the error and the refund (as a 60 s poll nearly always is): the
    restart and the refund still come, each once."""
    await kinds(runtime)
    handle = sim.add_scenario("together_restart", at=10)
    while sim.status(handle.job_id) != "error":
        sim.advance(10)
    assert "job.failed" in await kinds(runtime)
    sim.advance(150)  # the restart and the refund are written meanwhile
    later = await kinds(runtime) + await kinds(runtime)
    assert later.count("job.refunded") == 1
    assert later.count("job.restarted") == 1


def test_a_job_retention_forgot_is_not_new() -> None:
    """No state and created before the cutoff: left alone (unless named in `jobs`)."""
    old = together("completed", created_at=T0)
    cutoff = T0 + timedelta(days=1)
    assert not plan.worth_a_look(
        old, None, follow=False, followed=frozenset(), forgotten_before=cutoff
    )
    assert plan.worth_a_look(
        old, None, follow=True, followed=frozenset({old.id}), forgotten_before=cutoff
    )
    assert plan.worth_a_look(old, None, follow=False, followed=frozenset(), forgotten_before=T0)
