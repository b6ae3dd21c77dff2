"""OpenAI webhooks with two real `ftmon run` replicas on one throwaway PostgreSQL state.

The simulator signs and sends its webhooks to the replica that does NOT lead the OpenAI
provider. Both poll only every hour, so the one thing that can tell the leader of a job's
end within the test's wait is the shared nudge: the standby records it in the database and
NOTIFYs, the leader takes it and reads the job. Each terminal change must reach the
receiver exactly once although every webhook is delivered twice and out of order.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg

from monitor.simulator import Simulator
from tests.e2e.harness import write_config
from tests.e2e.test_webhooks_e2e import SECRET, TERMINAL, compress, terminal_labels, wait_for
from tests.pgserver import free_port
from tests.receivers import HttpReceiver
from tests.reliability import kit

OPENAI = "openai-sim"


class Replica:
    def __init__(self, daemon: kit.Daemon, port: int) -> None:
        self.daemon, self.url = daemon, f"http://127.0.0.1:{port}"

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        wanted = [f'{k}="{v}"' for k, v in labels.items()]
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + "{") and all(w in line for w in wanted)
        )

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


def start(
    tmp: Path, sim: Simulator, state: str, receiver: HttpReceiver, n: int, poll: str = "1h"
) -> Replica:
    port = free_port()
    path = write_config(
        tmp,
        sim,
        channels={"hook": f"json://127.0.0.1:{receiver.port}/"},
        first_run="alert",
        poll_interval=poll,
        listen=f"127.0.0.1:{port}",
        name=f"ftmon-{n}.toml",
        openai_extra=f'webhook_secret = "{SECRET}"',
    )
    text = path.read_text().replace(
        f'state = "{tmp / "state.db"}"', f'state = "{state}"\nlease = "2s"\nlease_renew = "1s"'
    )
    path.write_text(text)
    replica = Replica(kit.start_daemon(path, tmp / f"replica-{n}.log"), port)
    wait_for(replica.ready, what=f"replica {n} ready")
    return replica


def leader(state: str, provider: str) -> int | None:
    with psycopg.connect(state, autocommit=True) as conn:
        row = conn.execute(
            "SELECT holder FROM leases WHERE provider = %s AND expires_at > now()", (provider,)
        ).fetchone()
    return None if row is None else int(str(row[0]).split(":")[1])


def pending_nudges(state: str) -> int:
    with psycopg.connect(state, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM nudges").fetchone()
    return int(row[0]) if row else -1


def test_a_webhook_to_the_standby_replica_is_acted_on_by_the_leader(
    tmp_path: Path, sim: Simulator, receiver: HttpReceiver, pg_url: str
) -> None:
    first = start(tmp_path, sim, pg_url, receiver, 0)
    wait_for(lambda: leader(pg_url, OPENAI) == first.daemon.pid, what="replica 0 leading")
    second = start(tmp_path, sim, pg_url, receiver, 1)
    try:
        sim.webhooks.configure(f"{second.url}/webhooks/openai/{OPENAI}", SECRET,
                               duplicate=1.0, shuffle=0.5)  # fmt: skip
        jobs = {
            ("job.succeeded", compress(sim, "openai_success", 5)),
            ("job.failed", compress(sim, "openai_failure", 2)),
            ("job.cancelled", compress(sim, "openai_cancel", 4)),
        }
        wait_for(lambda: jobs <= set(terminal_labels(receiver)), what="the terminal alerts")
        answered = ("accepted", "duplicate", "replayed")
        wait_for(lambda: sum(second.metric("ftmon_webhooks_total", outcome=o)
                             for o in answered) >= 6, what="every delivery answered")  # fmt: skip
        time.sleep(1.5)  # a duplicate's nudge, taken by the leader, would have alerted by now
        assert Counter(terminal_labels(receiver)) == Counter(jobs)
        assert leader(pg_url, OPENAI) == first.daemon.pid  # no takeover explains the alerts
        assert second.metric("ftmon_webhooks_total", outcome="accepted") == 3
        assert first.metric("ftmon_webhooks_total", outcome="accepted") == 0
        assert second.metric("ftmon_polls_total", provider=OPENAI) == 0
        assert pending_nudges(pg_url) == 0
        facts = kit.outbox(pg_url)
        stored = Counter((a.kind, a.job_id) for _, a in facts if a.kind in TERMINAL)
        assert stored == Counter(jobs)
    finally:
        assert second.daemon.stop() == 0
        assert first.daemon.stop() == 0
    assert json.dumps(SECRET) not in (tmp_path / "replica-1.log").read_text()


def test_a_nudge_whose_notification_was_lost_is_taken_by_the_next_full_poll(
    tmp_path: Path, sim: Simulator, receiver: HttpReceiver, pg_url: str
) -> None:
    """A nudge row with no NOTIFY (as if the listener was reconnecting): the leader takes
    it before its next full poll, and reads the job (an unknown id: nothing is raised)."""
    replica = start(tmp_path, sim, pg_url, receiver, 0, poll="2s")
    try:
        wait_for(lambda: leader(pg_url, OPENAI) == replica.daemon.pid, what="leading")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("INSERT INTO nudges (provider, job_id) VALUES (%s, 'ftjob-lost')",
                         (OPENAI,))  # fmt: skip
        wait_for(lambda: pending_nudges(pg_url) == 0, what="the nudge taken")
        wait_for(lambda: "ftjob-lost" in replica.daemon.log.read_text(), what="the job read")
        assert receiver.bodies() == []
    finally:
        assert replica.daemon.stop() == 0
