"""`Simulator`: the fake Together + OpenAI API, in-process, on a loopback port.

    with Simulator() as sim:
        handle = sim.add_scenario("together_success", time_scale=0.01)
        ...  # point a client at sim.base_url
        sim.advance(60)

Everything a test can do here is also reachable over HTTP under `/_sim/` (see `control`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

from .actions import Actions
from .api import Api
from .clock import Clock, ManualClock, to_seconds
from .control import make_control
from .defaults import Ids
from .faults import Faults, Stats
from .materialize import Materializer
from .scenarios import SCENARIOS, catalogue
from .script import Ev, Provider
from .server import ServerThread, SimServer
from .synthetic import churn, synthetic_jobs
from .timeline import Job
from .webhooks import WebhookSender
from .world import World


@dataclass(frozen=True, slots=True)
class ScenarioHandle:
    """The jobs a scenario created, and where its script sits in simulated time."""

    name: str
    provider: Provider
    job_ids: tuple[str, ...]
    start: datetime
    time_scale: float
    duration: float  # seconds of simulated time from start to the last scripted step

    @property
    def job_id(self) -> str:
        return self.job_ids[0]

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration)

    def at(self, offset: float) -> datetime:
        """Simulated time of script offset `offset` (unscaled seconds)."""
        return self.start + timedelta(seconds=offset * self.time_scale)


class Simulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        together_key: str = "sim-together-key",
        openai_key: str = "sim-openai-key",
        latency: float = 0.0,
        seed: int | str = 0,
        together_event_casing: Literal["upper", "lower"] = "upper",
        openai_error_placeholder: bool = False,
        together_log_moves_updated_at: bool = True,
    ) -> None:
        self.clock: Clock = clock or ManualClock(datetime.now(UTC).replace(microsecond=0))
        self.host, self.port = host, port
        self.seed = seed
        self.world = World(
            lowercase_events=together_event_casing == "lower",
            error_placeholder=openai_error_placeholder,
            log_moves_updated_at=together_log_moves_updated_at,
        )
        self.materializer = Materializer(Ids(seed))
        self.actions = Actions(self.world, self.materializer)
        self.faults = Faults(latency, on_vanish=self.world.hide)
        self._stats = Stats()
        keys: dict[Provider, str] = {"together": together_key, "openai": openai_key}
        self.api = Api(self.world, self.actions, self.faults, keys)
        self._churns = 0
        self._thread: ServerThread | None = None
        self.webhooks = WebhookSender(self.world, self.clock, seed)  # see `webhooks`

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._thread is None:
            server = SimServer(
                (self.host, self.port),
                self.api,
                self.faults,
                self._stats,
                self.clock.timestamp,
                make_control(self),
            )
            self.port = server.server_address[1]
            self._thread = ServerThread(server)
            self._thread.start()
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """`http://127.0.0.1:PORT` (for SDKs that add `/v1` themselves, e.g. together 2+)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`: what a client's `base_url` should be."""
        return f"{self.root_url}/v1"

    # -- time ------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, amount: float | timedelta) -> datetime:
        """Move a `ManualClock` forward; returns the new now."""
        return self._manual().advance(to_seconds(amount))

    def advance_to(self, when: datetime) -> datetime:
        return self._manual().set(when)

    def _manual(self) -> ManualClock:
        if not isinstance(self.clock, ManualClock):
            raise TypeError("only a ManualClock can be advanced; this simulator runs in real time")
        return self.clock

    # -- jobs ------------------------------------------------------------------------------

    def catalogue(self) -> dict[str, str]:
        return catalogue()

    def add_scenario(
        self,
        name: str,
        *,
        at: float = 0.0,
        time_scale: float = 1.0,
        job_id: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> ScenarioHandle:
        """Start scenario `name` `at` seconds from now (negative: already under way).

        `fields` set job fields on every job of the scenario, over the script's own (a
        team's `suffix`, OpenAI `metadata` or `integrations`, Together
        `wandb_project_name`), as a person submitting the job would have."""
        scenario = SCENARIOS.get(name)
        if scenario is None:
            raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        with self.world.lock:
            start = round(self.clock.timestamp() + at, 3)
            jobs = self.materializer.scenario(
                scenario, start=start, scale=time_scale, job_id=job_id, fields=fields
            )
            for job in jobs:
                job.meta["scenario"] = name
            self.world.add(jobs)
        return ScenarioHandle(
            name=name,
            provider=scenario.provider,
            job_ids=tuple(j.id for j in jobs),
            start=datetime.fromtimestamp(start, UTC),
            time_scale=time_scale,
            duration=scenario.duration * time_scale,
        )

    def add_synthetic(
        self,
        provider: Provider = "together",
        count: int = 1000,
        seed: int | str | None = None,
        *,
        active: float | None = None,
    ) -> list[str]:
        """Scale mode: `count` realistic jobs (mostly finished; `active`: the share running
        or queued, 0.15 by default); returns their ids."""
        if provider not in ("together", "openai"):
            raise ValueError(f"unknown provider {provider!r}")
        with self.world.lock:
            jobs = synthetic_jobs(
                self.materializer,
                provider,
                count,
                self.seed if seed is None else seed,
                self.clock.timestamp(),
                active,
            )
            self.world.add(jobs)
        return [j.id for j in jobs]

    def churn(self, fraction: float = 0.05, seed: int | str | None = None) -> dict[str, Any]:
        """Move `fraction` of the unfinished jobs a step forward now, and add a few new ones."""
        self._churns += 1
        rng = random.Random(f"{self.seed if seed is None else seed}:churn:{self._churns}")
        with self.world.lock:
            return churn(self.world, self.materializer, self.clock.timestamp(), fraction, rng)

    def job_ids(self, provider: Provider | None = None) -> list[str]:
        """Ids of the jobs that exist now (optionally of one provider)."""
        now = self.clock.timestamp()
        with self.world.lock:
            return [
                j.id
                for j in self.world.jobs.values()
                if j.created_t <= now and provider in (None, j.provider)
            ]

    def jobs(self) -> list[dict[str, Any]]:
        """Every job that exists now: id, provider, status, scenario (or "synthetic")."""
        now = self.clock.timestamp()
        with self.world.lock:
            return [
                {
                    "id": job.id,
                    "provider": job.provider,
                    "status": job.state(now).status,
                    "scenario": job.meta.get("scenario", "synthetic"),
                    "created_at": datetime.fromtimestamp(job.created_t, UTC).isoformat(),
                }
                for job in self.world.jobs.values()
                if job.created_t <= now
            ]

    def status(self, job_id: str) -> str:
        """The job's wire status now."""
        with self.world.lock:
            return self._job(job_id).state(self.clock.timestamp()).status

    def _job(self, job_id: str) -> Job:
        job = self.world.jobs.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id}")
        return job

    # -- acting on jobs (as a person would through the API, or as a fault) --------------------

    def cancel(self, job_id: str) -> str | None:
        with self.world.lock:
            job, now = self._job(job_id), self.clock.timestamp()
            if job.provider == "together":
                return self.actions.together_cancel(job, now)
            return self.actions.openai_cancel(job, now)

    def pause(self, job_id: str) -> str | None:
        with self.world.lock:
            return self.actions.openai_pause(self._job(job_id), self.clock.timestamp())

    def resume(self, job_id: str) -> str | None:
        with self.world.lock:
            return self.actions.openai_resume(self._job(job_id), self.clock.timestamp())

    def inject_status(self, job_id: str, status: str) -> None:
        """The job reports `status` from now on (unknown values welcome)."""
        with self.world.lock:
            self.actions.inject(self._job(job_id), self.clock.timestamp(), status=status)

    def inject_fields(self, job_id: str, fields: dict[str, Any]) -> None:
        """Set (or add unknown) job fields from now on."""
        with self.world.lock:
            self.actions.inject(self._job(job_id), self.clock.timestamp(), fields=fields)

    def inject_event(
        self,
        job_id: str,
        *,
        type: str,
        message: str,
        level: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Append an event now (any type: unknown ones too)."""
        with self.world.lock:
            job = self._job(job_id)
            default = "Info" if job.provider == "together" else "info"
            event = Ev(type=type, message=message, level=level or default, data=data or {})
            self.actions.inject(job, self.clock.timestamp(), event=event)

    # -- accounting ------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Requests per route template, statuses, bytes sent (control calls not counted)."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()
