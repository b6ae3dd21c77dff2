"""`ftmon run`: the long-lived daemon.

It runs one *generation* (`generation`: everything built from one config) after another.
Metrics, health and the web server outlive generations, so counters stay continuous and
probes keep answering across a reload. A generation runs until SIGTERM/SIGINT (stop
polling, drain the outbox for a bounded time, exit 0) or a SIGHUP with a valid new config
(replace the generation; an invalid one is logged and the old generation keeps running).
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from pathlib import Path

import anyio
import anyio.abc
import structlog

from monitor import config as config_mod
from monitor.app import logs
from monitor.app.generation import Control, Generation
from monitor.app.metrics import Metrics
from monitor.app.nudges import LocalNudges, Relay
from monitor.app.sdnotify import Notifier
from monitor.app.web import HealthServer, HealthState
from monitor.app.webhooks import WebhookReceiver
from monitor.app.wiring import Seams
from monitor.core.errors import ConfigError
from monitor.core.settings import Config
from monitor.delivery.channels import build_channels

log = structlog.get_logger("ftmon.daemon")


class Daemon:
    """The process around the generations: signals, reloads and the web server."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None,
        env: Mapping[str, str],
        seams: Seams | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.env = env
        self.seams = seams or Seams()
        self.clock = self.seams.clock
        self.notifier = notifier or Notifier.from_env(env)
        self._control = Control(stop=anyio.Event())

    def request_stop(self) -> None:
        """Stop as SIGTERM would (drain, then return); for embedding, e.g. `ftmon demo`."""
        self._control.stopping = True
        self._control.stop.set()

    async def run(self) -> int:
        metrics = Metrics()
        health = HealthState.for_interval(self.config.monitor.poll_interval, clock=self.clock)
        nudges = LocalNudges()
        relay = Relay(nudges)  # queues nudges for the database while a generation shares one
        receiver = WebhookReceiver({}, relay, metrics)
        control = self._control
        web: HealthServer | None = None
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(self._signals, control)  # listening before daemon_started
                while True:
                    receiver.configure(webhook_secrets(self.config))
                    web = await _serve_health(
                        web, self.config.monitor.listen, metrics, health, receiver
                    )
                    await Generation(
                        self.config,
                        self.clock,
                        self.notifier,
                        metrics,
                        health,
                        seams=self.seams,
                        nudges=nudges,
                        relay=relay,
                    ).run(control)
                    if control.stopping or control.next_config is None:
                        break
                    self.config, control.next_config = control.next_config, None
                    health.max_age = HealthState.for_interval(
                        self.config.monitor.poll_interval, clock=self.clock
                    ).max_age
                    control.stop = anyio.Event()
                    log.info("config_reloaded", file=str(self.config.file))
                tg.cancel_scope.cancel()
        finally:
            if web is not None:
                await web.stop()
        return 0

    async def _signals(
        self,
        control: Control,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Reload on SIGHUP, drain on SIGTERM/SIGINT; started before the first generation, so
        no signal meets the default action (which would kill the process) once it runs."""
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGHUP:
                    self._reload(control)
                    continue
                log.info("stop_requested", signal=signal.Signals(signum).name)
                self.request_stop()

    def _reload(self, control: Control) -> None:
        self.notifier.reloading()
        try:
            fresh = config_mod.load(self.config_path, self.env)
            build_channels(fresh.channels, fresh.file)  # every URL usable, or keep the old
        except ConfigError as exc:
            log.error("config_reload_rejected", error=str(exc))
            self.notifier.ready("reload rejected; running on the previous config")
            return
        logs.configure_for(fresh, self.env)
        control.next_config = fresh
        control.stop.set()


def webhook_secrets(config: Config) -> dict[str, str]:
    """Provider name -> signing secret, for the providers that take webhooks."""
    return {
        p.name: p.webhook_secret.reveal() for p in config.providers if p.webhook_secret is not None
    }


async def _serve_health(
    current: HealthServer | None,
    listen: str,
    metrics: Metrics,
    health: HealthState,
    webhooks: WebhookReceiver,
) -> HealthServer | None:
    """Keep the web server while `listen` is unchanged; move it when it changes."""
    if current is not None and current.listen == listen:
        return current
    if current is not None:
        await current.stop()
    if not listen:
        return None
    server = HealthServer(listen, metrics, health, webhooks)
    await server.start()
    return server
