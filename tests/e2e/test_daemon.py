"""The real `ftmon run` daemon process: delivery, signals, health, metrics, sd_notify.

The simulator runs in real time with scenarios compressed to seconds; ftmon polls every
second and delivers to a local JSON webhook. Everything is observed from outside the
process, as systemd or an operator would.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from monitor.simulator import SCENARIOS, Simulator
from tests.e2e.harness import TOGETHER_KEY, ftmon_env, write_config
from tests.receivers import HttpReceiver, free_port
from tests.waiting import wait_for

FAST = {
    "queue_stall": "4s",
    "progress_stall": "1h",
    "eta_grace": "1h",
    "repeat": "1h",
    "provider_down": "3s",
}


ROUTING_LABELS = ("model=", "suffix=")  # what routing used; these tests match on the rest


def labels(receiver: HttpReceiver) -> list[str]:
    """Every label line received, in arrival order (a grouped message has several), without
    the routing labels that follow the fact's own."""
    found = []
    for request in receiver.bodies():
        message = json.loads(request.body)["message"]
        for line in message.splitlines():
            if line.strip().startswith("kind="):
                kept = [w for w in line.split() if not w.startswith(ROUTING_LABELS)]
                found.append(" ".join(kept))
    return found


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    log: Path
    notify: socket.socket
    port: int
    notes: list[str] = field(default_factory=list)

    def messages(self) -> list[str]:
        """sd_notify datagrams received so far."""
        self.notify.setblocking(False)
        while True:
            try:
                self.notes.append(self.notify.recv(4096).decode())
            except BlockingIOError:
                return self.notes

    def logged(self, event: str) -> bool:
        return f'"event": "{event}"' in self.log.read_text()

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)


def start_daemon(config: Path, tmp: Path, name: str = "ftmon") -> Daemon:
    notify_path = tmp / f"{name}-notify.sock"
    notify_path.unlink(missing_ok=True)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    log = tmp / f"{name}.log"
    env = ftmon_env(NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC="1000000")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.entry", "run", "-c", str(config)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    port = int(_listen_port(config))
    return Daemon(process=process, log=log, notify=notify, port=port)


def _listen_port(config: Path) -> str:
    for line in config.read_text().splitlines():
        if line.startswith("listen"):
            return line.split(":")[-1].strip('" ')
    raise AssertionError("config has no listen address")


def stop(daemon: Daemon) -> int:
    # Empty the notify socket first: a datagram socket queues only ten messages
    # (net.unix.max_dgram_qlen), so unread WATCHDOG/STATUS lines would crowd STOPPING out.
    daemon.messages()
    if daemon.process.poll() is None:
        daemon.process.send_signal(signal.SIGTERM)
    code = daemon.process.wait(timeout=60)
    daemon.messages()  # read what it said while stopping before closing the socket
    daemon.notify.close()
    return code


def compress(sim: Simulator, name: str, seconds: float, at: float = 1.0) -> list[str]:
    scale = min(1.0, seconds / SCENARIOS[name].duration)
    return list(sim.add_scenario(name, at=at, time_scale=scale).job_ids)


def test_daemon_delivers_reloads_and_drains(
    sim: Simulator, receiver: HttpReceiver, tmp_path: Path
) -> None:
    """Scenarios are delivered once each; SIGHUP with a broken config keeps the old one, with a
    good one applies it; /healthz, /readyz, /metrics answer; SIGTERM drains and exits 0."""
    port = free_port()
    channels = {"hook": f"json://127.0.0.1:{receiver.port}/"}
    config = write_config(
        tmp_path,
        sim,
        thresholds=FAST,
        channels=channels,
        first_run="alert",  # the scenarios may start before the first poll under load
        poll_interval="1s",
        listen=f"127.0.0.1:{port}",
    )
    billing = compress(sim, "together_billing_limit", 6)
    failure = compress(sim, "openai_failure", 3)
    daemon = start_daemon(config, tmp_path)
    try:
        wait_for(lambda: "READY=1" in "".join(daemon.messages()), what="READY=1")
        expected = {
            "kind=job.cancelled severity=failure cause=billing_limit provider=together-sim "
            f"job={billing[0]}",
            "kind=job.failed severity=failure cause=invalid_file provider=openai-sim "
            f"job={failure[0]}",
        }
        wait_for(  # DESIGN's labels first; what routing matched on (model=, suffix=) follows
            lambda: expected <= {line.split(" model=")[0] for line in labels(receiver)},
            timeout=40,
            what="the failure alerts",
        )
        assert daemon.get("/healthz").status_code == 200
        assert daemon.get("/readyz").status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(daemon.get("/metrics").text)}
        polls = sum(s.value for s in families["ftmon_polls"].samples if s.name.endswith("_total"))
        assert polls >= 2
        assert "WATCHDOG=1" in "".join(daemon.messages())

        good = config.read_text()
        config.write_text(good.replace('kind = "together"', 'kind = "fireworks"'))
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.logged("config_reload_rejected"), what="the reload to be rejected")
        assert daemon.process.poll() is None

        config.write_text(good.replace('poll_interval = "1s"', 'poll_interval = "2s"'))
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.logged("config_reloaded"), what="the reload to be applied")
        wait_for(lambda: daemon.get("/healthz").status_code == 200, what="health after reload")
    finally:
        code = stop(daemon)
    assert code == 0
    assert daemon.logged("outbox_drained")
    assert "STOPPING=1" in "".join(daemon.notes)
    received = Counter(labels(receiver))
    assert all(n == 1 for n in received.values()), received
    lines = daemon.log.read_text().splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)  # the libraries' too
    assert not [line for line in lines if "HTTP Request" in line]  # one line per poll instead
    assert daemon.logged("poll_completed")
    assert TOGETHER_KEY not in daemon.log.read_text()


def test_sigkill_and_restart_neither_loses_nor_repeats(
    sim: Simulator, receiver: HttpReceiver, tmp_path: Path
) -> None:
    """SIGKILL mid-run, restart on the same state: every alert arrives, none twice."""
    channels = {"hook": f"json://127.0.0.1:{receiver.port}/"}
    config = write_config(
        tmp_path,
        sim,
        thresholds=FAST,
        channels=channels,
        first_run="alert",  # the scenarios may start before the first poll under load
        poll_interval="1s",
        listen=f"127.0.0.1:{free_port()}",
    )
    jobs = [
        *compress(sim, "together_success", 12),
        *compress(sim, "together_user_cancel", 10),
        *compress(sim, "openai_cancel", 8),
    ]
    first = start_daemon(config, tmp_path, "first")
    wait_for(lambda: len(labels(receiver)) >= 2, timeout=40, what="first alerts")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    first.notify.close()
    second = start_daemon(config, tmp_path, "second")
    try:
        endings = ("kind=job.succeeded", "kind=job.cancelled")
        wait_for(
            lambda: sum(line.startswith(endings) for line in labels(receiver)) >= len(jobs),
            timeout=60,
            what="every job's final alert",
        )
    finally:
        assert stop(second) == 0
    received = Counter(labels(receiver))
    assert all(n == 1 for n in received.values()), received
    kinds = Counter(line.split()[0] for line in received)
    assert kinds["kind=job.started"] == 3
    assert kinds["kind=job.succeeded"] == 1 and kinds["kind=job.cancelled"] == 2
