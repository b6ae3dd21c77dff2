"""OpenAI webhooks end to end: the simulator signs and sends them to the real `ftmon run`.

The simulator runs in real time with OpenAI scenarios compressed to seconds and sends a
Standard Webhooks delivery for each terminal change (retrying, duplicating and reordering
when told to); ftmon verifies it, reads the job through its ordinary poll and delivers
to a local JSON webhook. Everything is observed from outside the ftmon process.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.simulator import SCENARIOS, Simulator
from monitor.simulator.webhooks import sign
from tests.e2e.harness import ftmon_env, outbox_facts, write_config
from tests.receivers import HttpReceiver, free_port
from tests.waiting import wait_for as wait_up_to

SECRET = "whsec_" + base64.b64encode(b"e2e-webhook-signing-key-for-ftmon").decode()
TERMINAL = ("job.succeeded", "job.failed", "job.cancelled")
wait_for = functools.partial(wait_up_to, timeout=40.0)  # a daemon polling in real time


@dataclass
class Ftmon:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    state: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@pytest.fixture
def ftmon(
    sim: Simulator, receiver: HttpReceiver, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Ftmon]:
    """`ftmon run` with the OpenAI provider taking webhooks, polling every hour (or every
    `request.param` seconds, through indirect parametrization)."""
    poll = getattr(request, "param", 3600)
    port = free_port()
    config = write_config(
        tmp_path,
        sim,
        channels={"hook": f"json://127.0.0.1:{receiver.port}/"},
        first_run="alert",
        poll_interval=f"{poll}s",
        listen=f"127.0.0.1:{port}",
        openai_extra=f'webhook_secret = "{SECRET}"',
    )
    log = tmp_path / "ftmon.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config)],
            env=ftmon_env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Ftmon(process, port, log, tmp_path / "state.db")
    try:
        wait_for(running.ready, what="/readyz (first poll done)")
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


def compress(sim: Simulator, name: str, seconds: float, at: float = 0.5) -> str:
    scale = min(1.0, seconds / SCENARIOS[name].duration)
    return sim.add_scenario(name, at=at, time_scale=scale).job_id


def terminal_labels(receiver: HttpReceiver) -> list[tuple[str, str]]:
    """(kind, job) of every terminal alert received, duplicates kept."""
    found = []
    for request in receiver.bodies():
        for line in json.loads(request.body)["message"].splitlines():
            fields = dict(p.split("=", 1) for p in line.split() if "=" in p)
            if fields.get("kind") in TERMINAL:
                found.append((fields["kind"], fields["job"]))
    return found


def test_each_terminal_change_is_alerted_once_from_its_webhook(
    sim: Simulator, receiver: HttpReceiver, ftmon: Ftmon
) -> None:
    """Polling every hour, three OpenAI jobs end (succeeded, failed, cancelled): each is
    alerted once, pushed by its webhook, although every webhook arrives twice and out of
    order; nothing more arrives once all deliveries are done."""
    sim.webhooks.configure(f"{ftmon.url}/webhooks/openai/openai-sim", SECRET,
                           duplicate=1.0, shuffle=0.5)  # fmt: skip
    jobs = {
        ("job.succeeded", compress(sim, "openai_success", 5)),
        ("job.failed", compress(sim, "openai_failure", 2)),
        ("job.cancelled", compress(sim, "openai_cancel", 4)),
    }
    wait_for(lambda: jobs <= set(terminal_labels(receiver)), what="the three terminal alerts")
    deliveries = sim.webhooks.deliveries
    wait_for(lambda: sum(d.duplicate and d.status == 200 for d in deliveries()) >= 3,
             what="the duplicate deliveries")  # fmt: skip
    answered = ("accepted", "duplicate", "replayed")
    wait_for(lambda: sum(ftmon.metric("ftmon_webhooks_total", outcome=o) for o in answered)
             >= 6, what="ftmon's answers to every delivery")  # fmt: skip
    time.sleep(1.0)  # anything a late duplicate could still raise would be in by now
    assert Counter(terminal_labels(receiver)) == Counter(jobs)
    stored = [(kind, job) for job, kind, _ in outbox_facts(ftmon.state) if kind in TERMINAL]
    assert Counter(stored) == Counter(jobs)
    assert ftmon.metric("ftmon_webhooks_total", outcome="accepted") == 3
    first_sent = {d.event_id: d.sent_at for d in deliveries() if d.attempt == 1}
    assert len(first_sent) == 3


@pytest.mark.parametrize("ftmon", [1], indirect=True)
def test_webhooks_switched_off_mid_run_are_covered_by_polling(
    sim: Simulator, receiver: HttpReceiver, ftmon: Ftmon
) -> None:
    """After the first webhook, deliveries stop; the next two endings arrive by polling."""
    sim.webhooks.configure(f"{ftmon.url}/webhooks/openai/openai-sim", SECRET)
    failed = compress(sim, "openai_failure", 2)
    wait_for(lambda: ("job.failed", failed) in terminal_labels(receiver), what="the failure")
    sim.webhooks.configure(enabled=False)
    sent = len(sim.webhooks.deliveries())
    later = {
        ("job.succeeded", compress(sim, "openai_success", 4)),
        ("job.cancelled", compress(sim, "openai_cancel", 3)),
    }
    wait_for(lambda: later <= set(terminal_labels(receiver)), what="the polled alerts")
    assert len(sim.webhooks.deliveries()) == sent == 1
    assert Counter(terminal_labels(receiver)) == Counter({("job.failed", failed), *later})


async def _flood(url: str, count: int, body: bytes, headers: dict[str, str]) -> Counter[int]:
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(trust_env=False, timeout=10, limits=limits) as http:

        async def one(n: int) -> None:
            hdrs = {k: v.replace("{n}", str(n)) for k, v in headers.items()}
            statuses[(await http.post(url, content=body, headers=hdrs)).status_code] += 1

        for start in range(0, count, 200):
            await asyncio.gather(*(one(n) for n in range(start, min(start + 200, count))))
    return statuses


@pytest.mark.parametrize("ftmon", [1], indirect=True)
def test_a_flood_of_unsigned_requests_changes_nothing(
    sim: Simulator, receiver: HttpReceiver, ftmon: Ftmon
) -> None:
    """Thousands of unsigned and wrongly signed deliveries naming made-up jobs: all 4xx,
    no job or alert from them, memory bounded, and polling and delivery carry on."""
    url = f"{ftmon.url}/webhooks/openai/openai-sim"
    body = b'{"id":"evt_x","type":"fine_tuning.job.failed","data":{"id":"ftjob-flood"}}'
    compress(sim, "openai_success", 60)  # running throughout: polled every second
    failed = compress(sim, "openai_failure", 3, at=2.0)
    wait_for(lambda: ftmon.metric("ftmon_polls_total", provider="openai-sim") >= 3)
    polls_before = ftmon.metric("ftmon_polls_total", provider="openai-sim")
    rss_before = ftmon.rss_kib()
    started = time.monotonic()
    forged = {
        "webhook-id": "msg_{n}",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": sign("whsec_" + base64.b64encode(b"wrong-key").decode(), "m", 1, body),
    }
    unsigned = asyncio.run(_flood(url, 1500, body, {}))
    bad = asyncio.run(_flood(url, 1500, body, forged))
    assert unsigned == Counter({400: 1500})
    assert bad == Counter({401: 1500})
    flood_seconds = time.monotonic() - started
    wait_for(lambda: ("job.failed", failed) in terminal_labels(receiver), what="the real alert")
    polls = ftmon.metric("ftmon_polls_total", provider="openai-sim") - polls_before
    print(f"flood {flood_seconds:.1f}s, {polls} polls, rss +{ftmon.rss_kib() - rss_before} KiB")
    assert polls >= flood_seconds // 3  # a poll a second normally: a third of that at least
    assert ftmon.metric("ftmon_webhooks_total", outcome="unsigned") == 1500
    assert ftmon.metric("ftmon_webhooks_total", outcome="bad_signature") == 1500
    assert ftmon.rss_kib() - rss_before < 40 * 1024
    facts = outbox_facts(ftmon.state)
    assert all(job != "ftjob-flood" for job, _, _ in facts)
    assert terminal_labels(receiver) == [("job.failed", failed)]
    assert ftmon.log.read_text().count('"webhook_rejected"') == 2  # once per outcome
