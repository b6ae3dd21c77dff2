"""SIGKILL the real daemon at random moments, restart it, again and again: lose nothing.

The simulator runs in real time and new batches of scenarios keep starting, so kills land
during start-up, in the middle of polls, commits, routing, claims and sends. After each
kill, before the restart, the state file is read: a delivery still pending whose message
the receiver already holds was sent but not recorded (the kill fell between the send and
its record), so it will be sent once more when its claim lapses. Those are the only
duplicates allowed, and they are counted exactly: at the end every receiver must hold each
alert 1 + (its orphaned sends) times, and the outbox every expected fact exactly once.

Claims last five minutes (`dispatch.CLAIM_FOR`), so the run ends with one `run --once`
five minutes and a bit in the (pinned) future, which sends what the last kills left
claimed; the simulator's jobs are all finished by then, so that poll raises nothing.
"""

from __future__ import annotations

import random
import shutil
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.alerts import Alert
from monitor.simulator import ManualClock, RealClock, Simulator
from tests.e2e.harness import write_config
from tests.receivers import HttpReceiver
from tests.reliability import kit
from tests.reliability.test_provider_faults import OPENAI, THRESHOLDS, TOGETHER

CHANNELS = ("hook", "backup")  # two webhooks on one receiver, told apart by path
SPAN = 10.0
LIFE = (0.1, 3.5)  # seconds a daemon lives before its SIGKILL, uniformly drawn
BATCH_EVERY = 10  # kills between two batches of scenarios

Orphan = tuple[int, str, str]  # alert id, channel, the claim it was sent under


def orphans(state: Path, received: dict[str, Counter[str]]) -> set[Orphan]:
    """Deliveries still pending whose message the channel's receiver already holds."""
    with kit.connect(state) as conn:
        rows = conn.execute(
            "SELECT d.alert_id, d.channel, coalesce(d.next_attempt_at, ''), a.payload "
            "FROM deliveries d JOIN alerts a ON a.id = d.alert_id WHERE d.status = 'pending'"
        ).fetchall()
    return {
        (alert_id, channel, claim)
        for alert_id, channel, claim, payload in rows
        if received[channel][Alert.from_json(payload).label_line()]
    }


def received(receiver: HttpReceiver) -> dict[str, Counter[str]]:
    return {c: Counter(kit.http_labels(receiver, f"/{c}", ok_only=True)) for c in CHANNELS}


@pytest.mark.parametrize(
    "kills",
    [pytest.param(5, id="quick"), pytest.param(120, id="soak", marks=pytest.mark.slow)],
)
def test_random_sigkills_lose_nothing(kills: int, tmp_path: Path) -> None:
    """Each kill is followed by a restart; no alert is lost, duplicates are exactly the
    sends a kill caught between send and record."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    receiver = HttpReceiver()
    state = tmp_path / "state.db"
    found: set[Orphan] = set()
    lives: list[float] = []
    unready = 0
    started = time.monotonic()
    with Simulator(clock=RealClock()) as sim:
        config = write_config(
            tmp_path,
            sim,
            thresholds=THRESHOLDS,
            channels={c: f"json://127.0.0.1:{receiver.port}/{c}" for c in CHANNELS},
            # a kill before the first poll is recorded makes a later daemon's poll the
            # first: a baseline there would silence facts depending on timing
            first_run="alert",
            poll_interval="1s",
            # every alert must reach each receiver: no incident may hold any back (a batch
            # of scenarios every ten kills puts several restarts within one window)
            extra=kit.NO_INCIDENTS,
        )
        runs = kit.Scenarios(sim)
        for k in range(kills):
            if k % BATCH_EVERY == 0:
                for i, name in enumerate(TOGETHER + OPENAI):
                    runs.start(name, at=0.5 + i * 0.4, span=SPAN)
            log = tmp_path / f"ftmon-{k}.log"
            daemon = kit.start_daemon(config, log)
            lives.append(rng.uniform(*LIFE))
            time.sleep(lives[-1])
            daemon.kill()
            unready += "daemon_started" not in log.read_text()
            if state.exists():
                found |= orphans(state, received(receiver))
        last = kit.start_daemon(config, tmp_path / "ftmon-last.log")
        try:
            kit.wait_for(
                lambda: runs.facts(state) >= runs.expected,
                120,
                "every fact",
                lambda: runs.expected - runs.facts(state),
            )
            time.sleep(2)  # let the last alerts go out
        finally:
            assert last.stop() == 0
        found |= orphans(state, received(receiver))
        later = datetime.now(UTC) + timedelta(minutes=6)
        flush = kit.once(config, later)
        assert flush.code == 0, flush.stderr
    receiver.close()

    got = received(receiver)
    outbox = kit.outbox(state)
    labels = Counter(alert.label_line() for _, alert in outbox)
    assert all(n == 1 for n in labels.values()), "the accounting needs unique label lines"
    extra = Counter((channel, alert_id) for alert_id, channel, _ in found)
    dupes = {c: kit.tally(state, c, list(got[c].elements())).duplicated for c in CHANNELS}
    lost = {c: kit.tally(state, c, list(got[c].elements())).lost for c in CHANNELS}
    kit.record(
        f"crashes-{'soak' if kills > 20 else 'quick'}",
        seed=seed,
        kills=kills,
        kills_before_ready=unready,
        mean_life_seconds=round(sum(lives) / len(lives), 2),
        seconds=round(time.monotonic() - started),
        scenarios=runs.count,
        alerts_expected=sum(runs.expected.values()),
        alerts_enqueued=len(outbox),
        deliveries_expected=sum(n for (_, s), n in kit.delivery_counts(state).items()),
        lost=sum(lost.values()),
        duplicated=sum(dupes.values()),
        sent_but_unrecorded=len(found),
    )
    assert runs.facts(state) == runs.expected
    assert kit.delivery_counts(state) == Counter({(c, "sent"): len(outbox) for c in CHANNELS})
    assert lost == dict.fromkeys(CHANNELS, 0)
    for alert_id, alert in outbox:
        for channel in CHANNELS:
            want = 1 + extra[(channel, alert_id)]
            assert got[channel][alert.label_line()] == want, (channel, alert.label_line())
    assert sum(dupes.values()) == len(found)
    assert [line for k in range(kills) for line in kit.trouble(tmp_path / f"ftmon-{k}.log")] == []


# -- the send/record window, statement by statement ------------------------------------------

START = datetime(2026, 11, 8, 9, 0, tzinfo=UTC)


def _restore(state: Path, before: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    shutil.copy(before, state)


@pytest.mark.parametrize(
    "spread", [pytest.param(3, id="quick"), pytest.param(0, id="soak", marks=pytest.mark.slow)]
)
def test_a_kill_between_send_and_record_repeats_only_that_message(
    spread: int, tmp_path: Path
) -> None:
    """`run --once` delivering a backlog, killed at statement N (`spread` points across the
    run, or every statement): a message the receiver got whose row is still pending is
    sent once more after its claim lapses; every other message arrives exactly once."""
    receiver = HttpReceiver()
    state = tmp_path / "state.db"
    with Simulator(clock=ManualClock(START)) as sim:
        config = write_config(
            tmp_path,
            sim,
            thresholds=THRESHOLDS,
            channels={"hook": f"json://127.0.0.1:{receiver.port}/"},
            extra=kit.NO_INCIDENTS,
        )
        assert kit.once(config, sim.now).code == 0
        for name in ("together_billing_limit", "openai_failure", "together_user_cancel"):
            sim.add_scenario(name, at=-7200, time_scale=0.3)
        receiver.refuse()
        sim.advance(60)
        assert kit.once(config, sim.now).code == 2  # alerts enqueued, the hook down
        receiver.recover()
        before = tmp_path / "before.db"
        with kit.connect(state) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copy(state, before)
        send_at = sim.now + timedelta(hours=1)  # every retry is due
        total = _statements(config, state, before, send_at)
        every = max(1, total // spread) if spread else 1
        window, points = [], list(range(every, total + 1, every))
        for crash_at in points:
            _restore(state, before)
            receiver.clear()
            crashed = kit.once(config, send_at, kit.env(FTMON_CRASH_AFTER_STATEMENTS=str(crash_at)))
            assert crashed.code == -signal.SIGKILL
            got = {"hook": Counter(kit.http_labels(receiver, ok_only=True))}
            orphaned = {a for a, _, _ in orphans(state, got)}
            if orphaned:
                window.append(crash_at)
            assert kit.once(config, send_at + timedelta(minutes=6)).code in (0, 1, 2)
            final = Counter(kit.http_labels(receiver, ok_only=True))
            for alert_id, alert in kit.outbox(state):
                want = 2 if alert_id in orphaned else 1
                assert final[alert.label_line()] == want, (crash_at, alert.label_line())
    receiver.close()
    kit.record(
        f"crash_window-{'quick' if spread else 'soak'}",
        statements_in_run=total,
        kill_points=len(points),
        kills_between_send_and_record=len(window),
        window_statements=window,
    )
    assert spread or window, "the send/record window was never hit"


def _statements(config: Path, state: Path, before: Path, now: datetime) -> int:
    """How many statements the run makes: the largest N at which the crash hook fires."""
    low, high = 1, 512
    while low < high:
        mid = (low + high + 1) // 2
        _restore(state, before)
        code = kit.once(config, now, kit.env(FTMON_CRASH_AFTER_STATEMENTS=str(mid))).code
        low, high = (mid, high) if code == -signal.SIGKILL else (low, mid - 1)
    return low
