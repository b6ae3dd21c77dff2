"""Retention on a real state file: old delivered alerts and finished jobs go, the rest stays;
an older schema is migrated forward to carry it."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.alerts import Alert, Kind, Severity
from monitor.core.memory import JobState, ProviderHealth
from monitor.core.model import ProviderKind, Status
from monitor.storage import retention
from monitor.storage.base import Outcome, Pruned, Store
from monitor.storage.postgresql import PgStore
from monitor.storage.sqlite import SqliteStore
from monitor.storage.sqlite_file import APPLICATION_ID, MIGRATIONS

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
LOOKBACKS = {"tg": WEEK}


def job(job_id: str, status: Status, created: datetime, *, vanished: bool = False) -> JobState:
    return JobState(
        provider="tg",
        job_id=job_id,
        kind=ProviderKind.TOGETHER,
        status=status,
        raw_status=str(status),
        created_at=created,
        facts=frozenset({"vanished"}) if vanished else frozenset(),
    )


def alert(key: str) -> Alert:
    return Alert(
        kind=Kind.FAILED,
        severity=Severity.FAILURE,
        provider="tg",
        job_id=key,
        at=NOW,
        summary="failed",
        dedup_key=key,
    )


@pytest.fixture
def store(any_store: Store) -> Store:
    """The retention rules, on both backends."""
    return any_store


def enqueue(store: Store, key: str, when: datetime, status: str | None) -> None:
    """An alert created at `when`, routed to one channel, its delivery in `status`."""
    (made,) = store.enqueue([alert(key)], when)
    alert_id = store.outbox.alert_id(made.dedup_key)
    assert alert_id is not None
    if status is None:  # never routed
        return
    store.outbox.route_to(alert_id, ["hook"], when)
    if status in ("sent", "failed"):
        result = Outcome.SENT if status == "sent" else Outcome.PERMANENT
        store.outbox.record_attempt([alert_id], "hook", result, None, None, when)


def count_attempts(store: Store) -> int:
    if isinstance(store, PgStore):
        with store.pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM attempts").fetchone()
    else:
        assert isinstance(store, SqliteStore)
        row = store.connection.execute("SELECT count(*) FROM attempts").fetchone()
    assert row is not None
    return int(row[0])


def keys(store: Store) -> set[str]:
    return {a.dedup_key for a in store.outbox_alerts()}


@pytest.mark.parametrize(
    ("oldest_open", "expected"),
    [
        # nothing open: lookback and the margin back from now
        (None, NOW - WEEK - DAY),
        # an open job younger than that horizon changes nothing
        (NOW - DAY, NOW - WEEK - DAY),
        # an open job older than the horizon: the list reaches back to it
        (NOW - 20 * DAY, NOW - 21 * DAY),
    ],
)
def test_jobs_cutoff(oldest_open: datetime | None, expected: datetime) -> None:
    """Finished jobs are forgotten only behind every list a poll can still make."""
    assert retention.jobs_cutoff(NOW, WEEK, oldest_open, DAY) == expected


def test_old_delivered_alerts_go_with_their_attempts(store: Store) -> None:
    """Older than 30 days and final: deleted. Pending, held, unrouted or recent: kept."""
    old = NOW - 31 * DAY
    enqueue(store, "old-sent", old, "sent")
    enqueue(store, "old-failed", old, "failed")
    enqueue(store, "old-pending", old, "pending")
    enqueue(store, "old-unrouted", old, None)
    enqueue(store, "new-sent", NOW - 29 * DAY, "sent")
    pruned = store.prune_if_due(NOW, LOOKBACKS)
    assert pruned == Pruned(alerts=2, deliveries=2, attempts=2, jobs=0)
    assert keys(store) == {"old-pending", "old-unrouted", "new-sent"}
    assert count_attempts(store) == 1  # the recent alert's


def test_outbox_depth_is_what_waits_to_be_sent(store: Store) -> None:
    """`depth` (the /metrics gauge, read after every delivery pass): pending deliveries
    plus alerts not yet routed, as `pending_summary` counts them; sent and failed are not."""
    for key, status in (("a", "sent"), ("b", "failed"), ("c", "pending"), ("d", None)):
        enqueue(store, key, NOW, status)
    enqueue(store, "e", NOW, "pending")
    summary = store.outbox.pending_summary()
    assert store.outbox.depth() == summary.totals["pending"] + summary.unrouted == 3


def test_finished_jobs_behind_every_list_go_and_are_remembered(store: Store) -> None:
    """Finished or vanished and older than lookback + margin: forgotten, the cutoff kept;
    open jobs and recent finished ones stay."""
    states = [
        job("old-done", Status.SUCCEEDED, NOW - 10 * DAY),
        job("old-gone", Status.UNKNOWN, NOW - 10 * DAY, vanished=True),
        job("old-unknown", Status.UNKNOWN, NOW - 30 * DAY),  # open: its status is not known
        job("recent-done", Status.FAILED, NOW - 3 * DAY),
    ]
    assert store.lead("tg", timedelta(minutes=1)) is not None  # a shared store fences commits
    store.commit_poll("tg", states, ProviderHealth(polled_once=True), [], NOW)
    assert store.load_provider("tg").pruned_before is None
    # the open job from 30 days ago holds the list back: nothing is behind it yet
    assert store.prune_if_due(NOW, LOOKBACKS) == Pruned()
    store.commit_poll(
        "tg", [replace(states[2], status=Status.CANCELLED)], ProviderHealth(), [], NOW
    )
    later = NOW + 2 * retention.EVERY
    pruned = store.prune_if_due(later, LOOKBACKS)
    assert pruned is not None and pruned.jobs == 3
    view = store.load_provider("tg")
    assert set(view.states) | set(view.settled) == {"recent-done"}
    assert view.pruned_before == later - WEEK - retention.JOBS_MARGIN
    reopened = PgStore(store.url) if isinstance(store, PgStore) else SqliteStore(store.path)
    try:
        assert reopened.load_provider("tg") == view
    finally:
        reopened.close()


def test_prune_runs_at_most_once_an_hour(store: Store) -> None:
    """A second look within the hour does nothing."""
    assert store.prune_if_due(NOW, LOOKBACKS) is not None
    assert store.prune_if_due(NOW + timedelta(minutes=59), LOOKBACKS) is None
    assert store.prune_if_due(NOW + timedelta(minutes=60), LOOKBACKS) is not None


def test_a_version_1_file_is_migrated_forward_intact(tmp_path: Path) -> None:
    """A file written by the first schema opens as the current one with every row kept."""
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    for statement in filter(str.strip, MIGRATIONS[0].split(";")):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    state = job("ft-1", Status.RUNNING, NOW - DAY)
    conn.execute(
        "INSERT INTO jobs VALUES ('tg', 'ft-1', 'running', 0, ?, ?)",
        (NOW.isoformat(), state.to_json()),
    )
    conn.execute(
        "INSERT INTO alerts (dedup_key, provider, job_id, kind, severity, created_at, payload) "
        "VALUES ('k', 'tg', 'ft-1', 'job.failed', 'failure', ?, ?)",
        (NOW.isoformat(), alert("k").to_json()),
    )
    conn.close()
    store = SqliteStore(path)
    assert store.connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 7
    assert store.load_provider("tg").states == {"ft-1": state}
    assert keys(store) == {"k"}
    assert store.prune_if_due(NOW, LOOKBACKS) is not None  # the new tables are there


def test_signal_words_of_an_older_file_become_todays(tmp_path: Path) -> None:
    """A job stored mid-cancellation before events were normalized keeps what its log said:
    the schema-5 migration renames its signal words, and leaves other jobs as they were."""
    path = tmp_path / "v4.db"
    older = replace(
        job("ft-1", Status.CANCELLING, NOW - DAY),
        signals=frozenset({"cancel_requested", "billing_limit", "refund"}),
    )
    plain = job("ft-2", Status.RUNNING, NOW - DAY)
    store = SqliteStore(path)
    store.commit_poll("tg", [older, plain], ProviderHealth(), [], NOW)
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE ledger")  # back to version 4, before the ledger (6) too
    conn.execute("DROP TABLE marks")
    conn.execute("PRAGMA user_version = 4")
    conn.close()
    states = SqliteStore(path).load_provider("tg").states
    assert states["ft-1"].signals == {"cancel", "billing_limit", "refunded"}
    assert states["ft-2"] == plain
