"""`ftmon demo`: the whole pipeline against the built-in simulator, in under a minute.

It starts the simulator in real time with seven scripted scenarios compressed to about
half a minute each (a Together success, a billing-limit cancellation, a hardware failure
restarted under a new job id with a refund, a job stuck in the queue, an OpenAI failure,
cancellation and success), runs the real daemon on `config/demo.toml` with a throw-away
state file, and prints every message as a channel receives it (a budget on the Together
jobs' spend among them; the cost ledger is printed at the end): a local JSON webhook
stands in for Slack. The simulator pushes OpenAI's signed webhooks to the daemon as
OpenAI would (`demo_webhooks`); a message pushed that way says so. `--notify URL` adds
real apprise channels beside it. No keys, no setup.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import TextIO

import anyio

from monitor import config as config_mod
from monitor.app import logs
from monitor.app.daemon import Daemon
from monitor.commands import cost, demo_webhooks, status
from monitor.core.settings import ChannelConfig, Config, LogFormat, Secret
from monitor.simulator import SCENARIOS, RealClock, Simulator

RUN_SECONDS = 50.0
SCENARIO_SECONDS = 32.0
DEMO_SCENARIOS = (
    ("together_success", 0.0),
    ("together_billing_limit", 2.0),
    ("together_restart", 4.0),
    ("together_queue_stuck", 6.0),
    ("openai_failure", 3.0),
    ("openai_cancel", 6.0),
    ("openai_success", 10.0),
)


def main(notify: Sequence[str], *, out: TextIO = sys.stdout, seconds: float = RUN_SECONDS) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="ftmon-demo-") as tmp,
        Simulator(clock=RealClock()) as sim,
        _ConsoleReceiver(out) as console,
    ):
        env = {
            **os.environ,
            "FTMON_SIM_URL": sim.base_url,
            "FTMON_DEMO_STATE": str(Path(tmp) / "state.db"),
            "FTMON_DEMO_CHANNEL": f"json://127.0.0.1:{console.port}/",
            "FTMON_DEMO_LISTEN": demo_webhooks.free_listen(),
        }
        config = _with_extra_channels(config_mod.load(demo_config_path(), env), notify)
        demo_webhooks.connect(sim, config)
        console.note = demo_webhooks.PushNote(sim, config)
        logs.configure(
            LogFormat.CONSOLE,
            [s.reveal() for s in config.secrets()],
            stream=sys.stderr,
            level=logging.WARNING,
        )
        for name, delay in DEMO_SCENARIOS:
            scale = SCENARIO_SECONDS / max(SCENARIOS[name].duration, 1.0)
            sim.add_scenario(name, at=delay, time_scale=min(scale, 1.0))
        _intro(out, sim, seconds)
        daemon = Daemon(config, config_path=None, env=env)
        anyio.run(_run_for, daemon, seconds)
        now = datetime.now(UTC)
        print(status.report(config, now, as_json=False), file=out)
        print(cost.report(config, now, since=timedelta(days=1), by="provider", as_json=False),
              file=out)  # fmt: skip
        print(
            f"\nDemo over: {console.count} messages delivered. "
            "Point a config at your own keys with `ftmon check-config`.",
            file=out,
        )
    return 0


async def _run_for(daemon: Daemon, seconds: float) -> None:
    async with anyio.create_task_group() as tg:

        async def stop_later() -> None:
            await anyio.sleep(seconds)
            daemon.request_stop()

        tg.start_soon(stop_later)
        await daemon.run()


def demo_config_path() -> Path:
    """The demo's config ships inside the package (config/demo.toml links to it)."""
    return Path(str(resources.files("monitor.commands").joinpath("demo.toml")))


def _with_extra_channels(config: Config, urls: Sequence[str]) -> Config:
    if not urls:
        return config
    extra = tuple(
        ChannelConfig(name=f"notify-{i + 1}", url=Secret(u, "--notify")) for i, u in enumerate(urls)
    )
    names = tuple(c.name for c in extra)
    routes = tuple(replace(r, channels=(*r.channels, *names)) for r in config.routes)
    return replace(config, channels=(*config.channels, *extra), routes=routes)


def _intro(out: TextIO, sim: Simulator, seconds: float) -> None:
    print(f"ftmon demo: the simulator serves Together AI and OpenAI at {sim.base_url}", file=out)
    print("Scenarios: " + ", ".join(name for name, _ in DEMO_SCENARIOS), file=out)
    print(
        f"Watching for {seconds:.0f}s; every message below is what a channel received.\n", file=out
    )


class _ConsoleReceiver:
    """A JSON webhook on loopback that prints each message it receives."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        self.note: Callable[[str], str | None] = lambda _message: None
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.show(self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def show(self, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            return
        with self._lock:
            self.count += 1
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            kind = str(payload.get("type", "info")).upper()
            print(f"── {stamp} {kind:<8} {payload.get('title', '')}", file=self.out)
            message = str(payload.get("message", ""))
            for line in message.splitlines():
                print(f"   {line}", file=self.out)
            note = self.note(message)
            if note:
                print(f"   {note}", file=self.out)
            print(file=self.out, flush=True)

    def __enter__(self) -> _ConsoleReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
