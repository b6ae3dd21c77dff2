"""Detection latency: a change in the simulator to the webhook's arrival, via the daemon.

The simulator runs in real time (1,000 jobs, 50 ms per request) and a JSON webhook
receiver listens here; the real daemon (`ftmon run`, i.e. `monitor.app.daemon.Daemon`) runs
as its own process with a 5 s poll interval and a route sending every alert to the
receiver at once. After its first (baseline) poll, this side cancels a random unfinished
job every fraction of a second, noting the moment, and the receiver notes when a message
naming that job arrives. The daemon is stopped with SIGTERM at the end.

`only="openai", webhooks=True` is the webhooks section: only OpenAI jobs are cancelled,
and the simulator pushes each cancellation as a signed webhook to the daemon's endpoint
(`monitor/simulator/webhooks.py`), as OpenAI would. Its changes come `gap` = 3.2-5 s
apart: a channel takes 20 messages a minute (one every 3 s) and combines the rest, which
would measure the rate limit instead of the detection.
"""

from __future__ import annotations

import base64
import json
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from monitor.simulator import RealClock, Simulator

JOB_ID = re.compile(r"\b(ft-[0-9a-f]{8}-[0-9a-f-]{27}|ftjob-[A-Za-z0-9]{8,})")
OPEN = {"pending", "queued", "running", "validating_files"}


@dataclass
class Latency:
    interval: float
    changes: int
    samples: list[float] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.changes - len(self.samples)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Receiver:
    """A JSON webhook on loopback: the first arrival time of each job id it is told of."""

    def __init__(self) -> None:
        self.arrived: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.note(body, at)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def note(self, body: bytes, at: float) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            return
        text = f"{payload.get('title', '')}\n{payload.get('message', '')}"
        if "cancel" not in text:
            return  # other news (a job starting or finishing on its own) is not measured
        with self._lock:
            for job in JOB_ID.findall(text):
                self.arrived.setdefault(job, []).append(at)

    def first_after(self, job: str, at: float) -> float | None:
        with self._lock:
            return min((t for t in self.arrived.get(job, []) if t >= at), default=None)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


CONFIG = """
[monitor]
state = "{state}"
poll_interval = "{interval:.0f}s"
first_run = "baseline"
log_format = "json"
listen = "{listen}"

[[providers]]
name = "together-sim"
kind = "together"
api_key = "sim-together-key"
base_url = "{url}"

[[providers]]
name = "openai-sim"
kind = "openai"
api_key = "sim-openai-key"
base_url = "{url}"
{openai_extra}

[[channels]]
name = "hook"
url = "json://127.0.0.1:{port}/"

[[routes]]
kinds = ["*"]
channels = ["hook"]
group_wait = "0s"
"""


def polled_once(state: Path) -> bool:
    if not state.exists():
        return False
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=1) as conn:
            rows = conn.execute("SELECT health FROM providers").fetchall()
    except sqlite3.Error:
        return False
    return len(rows) == 2 and all(json.loads(r[0]).get("polled_once") for r in rows)


SECRET = "whsec_" + base64.b64encode(b"bench-only-webhook-signing-key").decode()


def free_listen() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def measure(
    *,
    jobs: int,
    latency: float,
    interval: float,
    seconds: float,
    seed: int,
    only: str | None = None,
    webhooks: bool = False,
    gap: tuple[float, float] = (0.2, 1.0),
) -> Latency:
    rng = random.Random(seed)
    result = Latency(interval=interval, changes=0)
    changed: dict[str, float] = {}
    receiver = Receiver()
    with (
        tempfile.TemporaryDirectory(prefix="ftmon-latency-") as tmp,
        Simulator(clock=RealClock(), latency=latency, seed=seed) as sim,
    ):
        sim.add_synthetic("together", jobs // 2, seed=seed)
        sim.add_synthetic("openai", jobs - jobs // 2, seed=seed)
        state = Path(tmp) / "state.db"
        config = Path(tmp) / "ftmon.toml"
        listen = free_listen() if webhooks else ""
        extra = f'webhook_secret = "{SECRET}"' if webhooks else ""
        text = CONFIG.format(
            state=state,
            interval=interval,
            url=sim.base_url,
            port=receiver.port,
            listen=listen,
            openai_extra=extra,
        )
        config.write_text(text)
        if webhooks:
            sim.webhooks.configure(f"http://{listen}/webhooks/openai/openai-sim", SECRET)
        log = (Path(tmp) / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while not polled_once(state):
                if time.monotonic() > deadline or daemon.poll() is not None:
                    tail = (Path(tmp) / "daemon.log").read_text()[-1500:]
                    raise RuntimeError(f"the daemon did not complete its first poll: {tail}")
                time.sleep(0.2)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                candidates = [
                    j["id"]
                    for j in sim.jobs()
                    if j["status"] in OPEN
                    and only in (None, j["provider"])
                    and j["id"] not in changed
                ]
                if candidates:
                    job = rng.choice(candidates)
                    before = time.time()
                    if sim.cancel(job) is None:
                        changed[job] = before
                time.sleep(rng.uniform(*gap))
            settle = time.monotonic() + interval * 1.5 + 2
            while time.monotonic() < settle and not all(
                receiver.first_after(job, at) for job, at in changed.items()
            ):
                time.sleep(0.2)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
            log.close()
            receiver.close()
    result.changes = len(changed)
    arrivals = {job: receiver.first_after(job, at) for job, at in changed.items()}
    result.samples = [t - changed[job] for job, t in arrivals.items() if t is not None]
    return result
