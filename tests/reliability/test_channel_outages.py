"""Channel outages over simulated time: `ftmon run --once` every three simulated minutes.

Four channels take every alert: a JSON webhook that is down (connection refused) for 42
simulated minutes; an SMTP server that first answers 451 to every message, then stops
listening, then recovers; apprise's real Slack plugin (aimed at a local receiver) answering
429 with Retry-After for 27 minutes; and a webhook that answers 404 to everything, a
permanent failure. Retries follow the dispatcher's own backoff, measured on the pinned
clock (`FTMON_NOW`), so minutes of outage cost seconds.

Judged at the end: every alert reached each working channel exactly once (nothing resent
to a channel that had taken it), in the outbox's order for each job; the broken channel
took one attempt, was disabled, raised `monitor.channel_failed` on the others, and
`ftmon status` (table and JSON) reports it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.simulator import ManualClock, Simulator
from tests.e2e.harness import write_config
from tests.receivers import HttpReceiver, SmtpReceiver
from tests.reliability import kit
from tests.reliability.test_provider_faults import OPENAI, THRESHOLDS, TOGETHER

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
STEP = 180  # simulated seconds between two cron runs
SPAN = 1200.0  # each scenario, compressed to 20 simulated minutes
WORKING = ("hook", "mail", "slack")


class Receivers:
    def __init__(self) -> None:
        self.hook, self.slack, self.broken = HttpReceiver(), HttpReceiver(), HttpReceiver()
        self.smtp = SmtpReceiver()
        self.broken.answer_always(404)

    def channels(self) -> dict[str, str]:
        return {
            "hook": f"json://127.0.0.1:{self.hook.port}/",
            "mail": self.smtp.url(),
            "slack": "slack://T1ABCDEFG/B2HIJKLMN/abcdefghijklmnopqrstuvwx",
            "broken": f"json://127.0.0.1:{self.broken.port}/gone",
        }

    def labels(self, channel: str) -> list[str]:
        if channel == "mail":
            return kit.smtp_labels(self.smtp)
        return kit.http_labels(getattr(self, channel), ok_only=True)

    def close(self) -> None:
        for r in (self.hook, self.slack, self.broken, self.smtp):
            r.close()


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    r = Receivers()
    yield r
    r.close()


# step -> what happens to the channels before that step's run
OUTAGES = {
    1: ("hook down (connection refused)", lambda r: r.hook.refuse()),
    2: ("slack 429 Retry-After: 120", lambda r: r.slack.answer_always(429, retry_after=120)),
    3: ("smtp 451 to every message", lambda r: r.smtp.refuse()),
    6: ("smtp down (connection refused)", lambda r: r.smtp.down()),
    9: ("smtp back", lambda r: (r.smtp.up(), r.smtp.accept())),
    11: ("slack back", lambda r: r.slack.answer_always(200)),
    15: ("hook back", lambda r: r.hook.recover()),
}
LAST_STEP = 15 + 7  # the backoff is capped at 15 minutes


def in_job_order(received: Sequence[str], outbox: Sequence[str]) -> bool:
    """Per job, labels arrived in the order the outbox holds them."""

    def by_job(lines: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for line in lines:
            job = next((w for w in line.split() if w.startswith("job=")), "-")
            out.setdefault(job, []).append(line)
        return out

    return by_job(received) == {k: v for k, v in by_job(outbox).items() if k in by_job(received)}


def test_outages_deliver_everything_once_in_order(receivers: Receivers, tmp_path: Path) -> None:
    """Down for simulated minutes, then back: all delivered, once each, in order per job."""
    started = time.monotonic()
    environ = kit.env(FTMON_TEST_SLACK_URL=f"{receivers.slack.url}/services")
    state = tmp_path / "state.db"
    events: list[str] = []
    with Simulator(clock=ManualClock(START)) as sim:
        config = write_config(
            tmp_path,
            sim,
            thresholds=THRESHOLDS,
            channels=receivers.channels(),
            extra=kit.NO_INCIDENTS,
        )
        assert kit.once(config, sim.now, environ).code == 0
        runs = kit.Scenarios(sim)
        for i, name in enumerate(TOGETHER + OPENAI):
            runs.start(name, at=30 + 20 * i, span=SPAN)
        codes = Counter()
        for step in range(1, LAST_STEP + 1):
            if step in OUTAGES:
                what, act = OUTAGES[step]
                act(receivers)
                events.append(f"step {step}: {what}")
            sim.advance(STEP)
            run = kit.once(config, sim.now, environ)
            codes[run.code] += 1
            assert run.code in (0, 1, 2), run.stderr
        table = kit.cli(["status", "-c", str(config)], environ)
        as_json = json.loads(kit.cli(["status", "--json", "-c", str(config)], environ).stdout)
    outbox = [alert.label_line() for _, alert in kit.outbox(state)]
    counts = kit.delivery_counts(state)
    with kit.connect(state) as conn:
        attempts = dict(
            conn.execute("SELECT channel, count(*) FROM attempts GROUP BY 1").fetchall()
        )
    tallies = {c: kit.tally(state, c, receivers.labels(c)) for c in WORKING}
    kit.record(
        "channel_outages",
        runs=LAST_STEP + 1,
        simulated_minutes=LAST_STEP * STEP // 60,
        outages=events,
        outage_minutes={"hook": 14 * STEP // 60, "mail": 6 * STEP // 60, "slack": 9 * STEP // 60},
        attempts=attempts,
        smtp_refusals=receivers.smtp.refused,
        slack_429s=receivers.slack.answered.count(429),
        alerts=len(outbox),
        delivery={c: t.as_dict() for c, t in tallies.items()},
        broken_channel_requests=len(receivers.broken.requests),
        exit_codes=dict(codes),
        seconds=round(time.monotonic() - started),
    )
    assert runs.facts(state) == runs.expected + Counter(
        {("ftmon", "monitor.channel_failed", None): 1}
    )
    for channel, t in tallies.items():
        assert (t.lost, t.duplicated) == (0, 0), (channel, t)
        assert counts[(channel, "sent")] == len(outbox)  # the channel_failed alert too
        assert in_job_order(receivers.labels(channel), outbox), channel
    assert len(receivers.broken.requests) == 1
    assert counts[("broken", "failed")] >= 1
    assert counts[("broken", "sent")] == 0
    assert "DISABLED broken" in table.stdout
    (disabled,) = as_json["outbox"]["disabled_channels"]
    assert disabled["channel"] == "broken" and "404" in disabled["reason"]
    assert all("monitor.channel_failed" not in line for line in receivers.labels("broken"))
