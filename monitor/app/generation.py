"""One *generation* of the daemon: everything built from one config, run until told to stop.

Its store, provider clients, dispatcher and scheduler jobs (the polls, retention, the
heartbeat and the watchdog) live and die together, so a SIGHUP replaces them all at
once (`daemon`). Polling and delivery are separate tasks, so a slow channel never holds
up a poll and a slow provider never holds up delivery. A state file that cannot be
written (locked, full) fails that poll or pass only: it is logged with the file named and
tried again next cycle. Retention (`storage/retention.py`) is looked at every ten minutes
and prunes at most once an hour. On a stop (not a reload) the outbox is drained for a
bounded time before the generation ends.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import partial

import anyio
import httpx
import structlog
from anyio.abc import TaskGroup

from monitor.app.heartbeat import ping
from monitor.app.leadership import Leadership
from monitor.app.metrics import Metrics
from monitor.app.nudges import LocalNudges, Relay
from monitor.app.poll import Clock
from monitor.app.poll_job import JITTER_FRACTION, PollJob
from monitor.app.scheduler import PollScheduler
from monitor.app.sdnotify import Notifier
from monitor.app.shared_nudges import SharedNudges
from monitor.app.web import HealthState
from monitor.app.wiring import Runtime, Seams, open_runtime
from monitor.core.errors import StoreError
from monitor.core.settings import Config
from monitor.delivery import loop
from monitor.delivery.channels import build_channels
from monitor.delivery.dispatch import CLAIM_FOR, Dispatcher
from monitor.delivery.loop import Doorbell
from monitor.delivery.report import DeliveryReport

log = structlog.get_logger("ftmon.daemon")

DRAIN_SECONDS = 20.0
RETENTION_LOOK_SECONDS = 600.0
JOBS_STOP_SECONDS = 10.0  # a poll in flight at SIGTERM or reload may finish within this
CLOCK_CHECK_SECONDS = 5.0
CLOCK_JUMP_SECONDS = 30.0  # a step back longer than this is a jump, not drift
WEBHOOKS_FRESH = 24 * 3600.0  # a webhook this recent shows the provider's webhooks work


@dataclass
class Control:
    """What the daemon's signal handler asks the running generation to do."""

    stop: anyio.Event
    next_config: Config | None = None
    stopping: bool = False


class Generation:
    """Everything built from one config, run until the control event says stop."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        notifier: Notifier,
        metrics: Metrics,
        health: HealthState,
        *,
        seams: Seams,
        nudges: LocalNudges | None = None,
        relay: Relay | None = None,
    ) -> None:
        self.config = config
        self.seams = seams
        self.nudges = nudges or LocalNudges()
        self.relay = relay
        self.shared_nudges: SharedNudges | None = None  # on a shared state, while running
        self.base = seams.poll_seconds or config.monitor.poll_interval.total_seconds()
        self.clock = clock
        self.notifier = notifier
        self.metrics = metrics
        self.health = health
        metrics.prepare([p.name for p in config.providers], [c.name for c in config.channels])
        health.expect(p.name for p in config.providers)
        self.last_ok: dict[str, bool] = {}
        self.scheduler = PollScheduler()
        self.doorbell = Doorbell()
        self.tasks: TaskGroup | None = None  # where nudged polls run, while running

    async def run(self, control: Control) -> None:
        channels = build_channels(self.config.channels, self.config.file)
        runtime = open_runtime(
            self.config,
            self.clock,
            counter=lambda name: partial(self.metrics.request, name),
            connect=self.seams.connect,
        )
        dispatcher = Dispatcher(
            runtime.store,
            channels,
            self.config.routes,
            self.clock,
            label_metadata=self.config.monitor.label_metadata,
            claim_for=self.seams.claim_for or CLAIM_FOR,
            incidents=self.config.incidents,
        )
        m = self.config.monitor
        self.leadership = Leadership(
            runtime.store,
            [p.name for p in self.config.providers],
            lease=m.lease,
            renew=m.lease_renew,
            metrics=self.metrics,
            health=self.health,
        )
        board = runtime.store.nudges
        if board is not None:
            names = tuple(p.name for p in self.config.providers)
            self.shared_nudges = SharedNudges(board, self.nudges, self.leadership.leads, names)
        try:
            await self.leadership.round()  # know what this replica leads before polling
            async with httpx.AsyncClient() as plain_http, anyio.create_task_group() as tg:
                self._schedule(runtime)
                self._schedule_retention(runtime)
                self._schedule_heartbeat(plain_http)
                self._schedule_watchdog()
                self.scheduler.start()
                tg.start_soon(self._deliver, dispatcher, runtime, control.stop)
                tg.start_soon(self._watch_clock)
                self.tasks = tg
                tg.start_soon(self.leadership.run, control.stop)
                self._share_nudges(tg)
                self.health.mark_ready()
                self.notifier.ready(f"watching {len(self.config.providers)} provider(s)")
                log.info("daemon_started", providers=[p.name for p in self.config.providers])
                await control.stop.wait()
                self.tasks = None  # no more nudged polls; one in flight ends with the others
                await self.scheduler.stop(JOBS_STOP_SECONDS)  # a poll in flight ends first
                if control.stopping:
                    self.health.mark_stopping()
                    self.notifier.stopping("draining the outbox")
                    report = await loop.drain(dispatcher, DRAIN_SECONDS)
                    log.info(
                        "outbox_drained",
                        delivered=report.delivered,
                        retrying=report.retrying,
                        failed=report.failed,
                    )
                    await self.leadership.step_down()
                tg.cancel_scope.cancel()
        finally:
            self.nudges.forget_listeners()
            self.scheduler.shutdown()
            await runtime.aclose()

    def _share_nudges(self, tg: TaskGroup) -> None:
        """On a shared state: record received nudges, take the ones for what this leads."""
        if self.shared_nudges is None:
            return
        if self.relay is not None:
            tg.start_soon(self.shared_nudges.relay, self.relay)
        tg.start_soon(self.shared_nudges.listen)

    async def _watch_clock(self) -> None:
        """Notice the wall clock stepping back (an NTP step, a restored VM) by comparing it
        with the monotonic clock, and pull the scheduler's jobs back to now: planned by
        the old clock, they would otherwise wait out the jump (no poll, no watchdog)."""
        wall, mono = time.time(), time.monotonic()
        while True:
            await anyio.sleep(CLOCK_CHECK_SECONDS)
            expected = wall + (time.monotonic() - mono)
            wall, mono = time.time(), time.monotonic()
            if wall < expected - CLOCK_JUMP_SECONDS:
                moved = self.scheduler.resync()
                log.warning("clock_went_back", seconds=round(expected - wall), jobs=moved)

    def _schedule(self, runtime: Runtime) -> None:
        base = self.base
        for provider in self.config.providers:
            job = PollJob(self, runtime, provider.name)
            self.scheduler.add(provider.name, job, base, jitter=base * JITTER_FRACTION)
            self.nudges.listen(provider.name, job.wake)

    def _schedule_retention(self, runtime: Runtime) -> None:
        """Look every ten minutes; the store prunes at most once an hour (`retention`)."""
        lookbacks = {p.name: p.lookback for p in self.config.providers}

        async def prune() -> None:
            if self.leadership.lost is not None:
                return
            try:
                pruned = runtime.store.prune_if_due(self.clock(), lookbacks)
            except StoreError as exc:  # locked or full: the next look tries again
                log.error("prune_failed", error=str(exc))
                return
            if pruned is not None:
                log.info("state_pruned", **asdict(pruned))

        self.scheduler.add("_retention", prune, RETENTION_LOOK_SECONDS)

    def _schedule_watchdog(self) -> None:
        """Ping systemd's watchdog from the event loop: a hung loop stops the pings.

        Provider outages do not: a restart cannot fix a provider, and ftmon must keep
        running to report it.
        """
        interval = self.notifier.watchdog_interval()
        if interval is not None:

            async def beat() -> None:
                self.notifier.watchdog()

            self.scheduler.add("_watchdog", beat, interval)

    def _schedule_heartbeat(self, http: httpx.AsyncClient) -> None:
        """One dead-man's-switch ping per round: ok only if every provider's last poll was."""
        url = self.config.monitor.heartbeat_url
        if url is None:
            return
        base = self.config.monitor.poll_interval.total_seconds()

        async def beat() -> None:
            if len(self.last_ok) == len(self.config.providers):
                await ping(http, url, all(self.last_ok.values()))

        self.scheduler.add(
            "_heartbeat", beat, base, first_run=self.clock() + timedelta(seconds=base)
        )

    def base_for(self, name: str) -> float:
        """The provider's base interval: `webhook_poll_interval` once its webhooks have
        been arriving (one in the last WEBHOOKS_FRESH seconds), else the usual one."""
        slower = self.config.provider(name).webhook_poll_interval
        since = self.nudges.seconds_since_last(name)
        if slower is None or since is None or since > WEBHOOKS_FRESH:
            return self.base
        return max(self.base, slower.total_seconds())

    async def _deliver(self, dispatcher: Dispatcher, runtime: Runtime, stop: anyio.Event) -> None:
        """Delivery for this generation: the dispatcher's loop, woken after each poll, and
        paused while the state database is lost (nothing could be recorded)."""

        def count(report: DeliveryReport) -> None:
            self.metrics.outbox_depth(runtime.store.outbox.depth())
            self.metrics.unmatched_alert(report.unmatched)

        await loop.run_forever(
            dispatcher,
            stop,
            doorbell=self.doorbell,
            after_pass=count,
            paused=lambda: self.leadership.lost is not None,
        )
