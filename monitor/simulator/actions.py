"""What a client (or a test) can do to a job: cancel, pause, resume, inject payloads.

Each action edits the job's timeline at `now`: the rest of the script is dropped (cancel),
set aside (pause) or re-timed (resume), and new steps are written at `now` or shortly
after. Callers hold `world.lock`. An action that is not allowed in the job's current
status returns the reason; success returns None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .materialize import Materializer
from .phases import OA_CANCELLED, OA_PAUSED, OA_RESUMED, OA_STARTED, TG_STOPPED, TG_USER_CANCEL
from .script import NOW, Ev, Step
from .timeline import Job
from .wire import OPENAI_TERMINAL, TOGETHER_TERMINAL
from .world import World

CANCEL_SECONDS = 30.0  # Together: cancel_requested → cancelled (scaled like the job)
RESUME_QUEUE_SECONDS = 60.0  # OpenAI: resumed job waits this long in `queued`


class Actions:
    def __init__(self, world: World, materializer: Materializer) -> None:
        self.world = world
        self.mat = materializer

    def _write(self, job: Job, t: float, step: Step) -> None:
        job.insert(self.mat.at(job, step, t))

    def together_cancel(self, job: Job, now: float) -> str | None:
        status = job.state(now).status
        if status in TOGETHER_TERMINAL:
            return f"Fine-tune job {job.id} is already {status} and cannot be cancelled"
        if status == "cancel_requested":
            return None
        job.drop_after(now)
        job.suspended.clear()
        self._write(
            job,
            now,
            Step(at=0, status="cancel_requested", fields={"eta_in": None}, event=TG_USER_CANCEL),
        )
        self._write(
            job, now + CANCEL_SECONDS * job.scale, Step(at=0, status="cancelled", event=TG_STOPPED)
        )
        self.world.touch()
        return None

    def openai_cancel(self, job: Job, now: float) -> str | None:
        status = job.state(now).status
        if status in OPENAI_TERMINAL:
            return f"Fine-tuning job {job.id} is already {status}."
        job.drop_after(now)
        job.suspended.clear()
        job.paused_t = None
        self._write(
            job,
            now,
            Step(
                at=0,
                status="cancelled",
                event=OA_CANCELLED,
                fields={"finished_at": NOW, "eta_in": None},
            ),
        )
        self.world.touch()
        return None

    def openai_pause(self, job: Job, now: float) -> str | None:
        st = job.state(now)
        if st.status != "running":
            return f"Fine-tuning job {job.id} is {st.status}; only a running job can be paused."
        finish = st.fields.get("estimated_finish")
        job.meta["eta_left"] = None if finish is None else max(0.0, finish - now)
        job.suspended = job.drop_after(now)
        job.paused_t = now
        self._write(job, now, Step(at=0, status="paused", fields={"eta_in": None}, event=OA_PAUSED))
        self.world.touch()
        return None

    def openai_resume(self, job: Job, now: float) -> str | None:
        st = job.state(now)
        if st.status != "paused":
            return f"Fine-tuning job {job.id} is {st.status}; only a paused job can be resumed."
        if job.paused_t is None:
            # Paused by its script: the script's own continuation starts now.
            rest = job.drop_after(now)
            if rest:
                for step in self.mat.retimed(rest, now - rest[0].t):
                    job.insert(step)
                self.world.touch()
                return None
            job.paused_t = now
        running_at = now + RESUME_QUEUE_SECONDS * job.scale
        eta_left = job.meta.get("eta_left")
        self._write(job, now, Step(at=0, status="queued", event=OA_RESUMED))
        self._write(
            job,
            running_at,
            Step(
                at=0,
                status="running",
                event=OA_STARTED,
                fields={"eta_in": None if eta_left is None else eta_left / job.scale},
            ),
        )
        for step in self.mat.retimed(job.suspended, running_at - job.paused_t):
            job.insert(step)
        job.suspended = []
        job.paused_t = None
        self.world.touch()
        return None

    def inject(
        self,
        job: Job,
        now: float,
        *,
        status: str | None = None,
        fields: Mapping[str, Any] | None = None,
        event: Ev | None = None,
    ) -> None:
        """Write an arbitrary status, fields (unknown ones too) or event at `now`, verbatim."""
        if event is not None:
            event = Ev(
                type=event.type,
                message=_literal(event.message),
                level=event.level,
                data=_literal(dict(event.data)),
            )
        step = Step(at=0, status=status, fields=_literal(dict(fields or {})), event=event)
        self._write(job, now, step)
        self.world.touch()


def _literal(value: Any) -> Any:
    """Escape braces so template filling leaves injected text as it is."""
    if isinstance(value, str):
        return value.replace("{", "{{").replace("}", "}}")
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return value
