"""What changed in the simulator between two cycles, and the fewest requests that see it.

The simulator knows each job's timeline; a job changed when something a monitor can see
in the job list or the job's log moved (its fields, its status or its event count), or
when it was created. Steps that only add a metric row or an OpenAI checkpoint are not
changes here: neither the list nor the log shows them. The
request floor of a cycle is then what an oracle that knew the changes would still need:
one Together list (the API has no paging and no filter), the OpenAI pages that reach
the oldest OpenAI job that changed (at least one, to see new jobs), and one log read per
changed job. A client cannot know which jobs changed without asking, so the floor is a
bound, not a target any client can always meet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from monitor.simulator import Simulator
from monitor.simulator.timeline import Job

Seen = dict[str, tuple[int, str]]  # job id -> (events, fields and status)


@dataclass
class Floor:
    changed: dict[str, str] = field(default_factory=dict)  # job id -> provider
    openai_pages: int = 1

    @property
    def requests(self) -> int:
        return 1 + self.openai_pages + len(self.changed)


def look(sim: Simulator) -> Seen:
    """Every existing job's visible state now (reads simulator internals)."""
    now = sim.clock.timestamp()
    world = sim.world
    with world.lock:
        return {
            job.id: _visible(job, now)
            for job in world.jobs.values()
            if job.created_t <= now and job.id not in world.hidden
        }


def _visible(job: Job, now: float) -> tuple[int, str]:
    state = job.state(now)
    return len(state.events), repr(sorted(state.fields.items()))


def floor(sim: Simulator, before: Seen, after: Seen) -> Floor:
    """The floor of the cycle that sees the change from `before` to `after`."""
    world = sim.world
    changed: dict[str, str] = {
        job_id: world.jobs[job_id].provider
        for job_id, mark in after.items()
        if before.get(job_id) != mark
    }
    openai = sorted(
        (int(world.jobs[j].created_t) for j in after if world.jobs[j].provider == "openai"),
        reverse=True,
    )
    oldest = min(
        (int(world.jobs[j].created_t) for j, p in changed.items() if p == "openai"), default=None
    )
    reach = 1 if oldest is None else sum(1 for t in openai if t >= oldest)
    return Floor(changed=changed, openai_pages=max(1, math.ceil(reach / 100)))
