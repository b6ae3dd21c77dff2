"""The cost ledger in both stores (a SQLite file, a throwaway PostgreSQL): written with the
state in the poll's transaction, rewritten not doubled by a re-poll, kept when retention
forgets the state, filled from the states already stored when an older schema migrates;
and what budgets and the digest tell, told once (across two replicas on PostgreSQL)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from monitor.core.alerts import Alert, Kind, Severity
from monitor.core.budgets import Marked
from monitor.core.errors import StoreError
from monitor.core.ledger import amounts
from monitor.core.memory import JobState, ProviderHealth, Refund
from monitor.core.model import ProviderKind, Status
from monitor.storage import retention
from monitor.storage.base import Store
from monitor.storage.pg_schema import MIGRATIONS as PG_MIGRATIONS
from monitor.storage.postgresql import PgStore
from monitor.storage.sqlite import SqliteStore
from monitor.storage.sqlite_file import MIGRATIONS
from tests.storage.test_retention import DAY, LOOKBACKS, NOW


def job(job_id: str, status: Status, *, price: float | None, days_ago: float = 10,
        refunds: tuple[Refund, ...] = ()) -> JobState:  # fmt: skip
    return JobState(
        provider="tg", job_id=job_id, kind=ProviderKind.TOGETHER, status=status,
        raw_status=str(status), created_at=NOW - days_ago * DAY, price_usd=price,
        peak_price_usd=price, refunds=refunds, model="llama-8b",
    )  # fmt: skip


def budget_alert(level: str) -> Alert:
    key = f"monitor.budget:b:{level}"
    return Alert(kind=Kind.BUDGET, severity=Severity(level), provider="tg", job_id=None,
                 at=NOW, summary=f"{level} budget", dedup_key=key)  # fmt: skip


@pytest.fixture
def store(any_store: Store) -> Store:
    assert any_store.lead("tg", timedelta(minutes=1)) is not None  # a shared store fences commits
    return any_store


def test_the_ledger_follows_each_commit_and_outlives_retention(store: Store) -> None:
    running = job("ft-1", Status.RUNNING, price=4.0)
    store.commit_poll("tg", [running], ProviderHealth(polled_once=True), [], NOW)
    refund = Refund(key="ev-9", amount_usd=12.4, at=NOW)
    done = replace(running, status=Status.FAILED, price_usd=0.0, peak_price_usd=12.4,
                   refunds=(refund,))  # fmt: skip
    for _ in range(2):  # a re-poll (or a replay) rewrites the same row
        store.commit_poll("tg", [done], ProviderHealth(polled_once=True), [], NOW)
    (entry,) = store.ledger()
    assert (entry.job_id, entry.status, entry.refunds) == ("ft-1", "failed", (refund,))
    assert (amounts(entry).charged, amounts(entry).net) == (12.4, 0.0)
    pruned = store.prune_if_due(NOW + 2 * retention.EVERY, LOOKBACKS)
    assert pruned is not None and pruned.jobs == 1
    assert store.all_jobs() == []
    assert [e.job_id for e in store.ledger()] == ["ft-1"]  # the money is remembered
    assert store.ledger(NOW - DAY) == []  # submitted ten days ago


def test_a_marked_alert_is_told_once_and_a_failure_marks_the_warning(store: Store) -> None:
    failure = Marked(marks=("b:failure", "b:warning"), alert=budget_alert("failure"))
    warning = Marked(marks=("b:warning",), alert=budget_alert("warning"))
    assert [a.severity for a in store.enqueue_marked([failure], NOW)] == [Severity.FAILURE]
    assert store.enqueue_marked([failure], NOW) == []
    assert store.enqueue_marked([warning], NOW) == []
    assert [a.dedup_key for a in store.outbox_alerts()] == ["monitor.budget:b:failure"]


def test_two_replicas_tell_a_digest_once(pg_url: str) -> None:
    a, b = PgStore(pg_url, holder="replica-a"), PgStore(pg_url, holder="replica-b")
    try:
        digest = replace(budget_alert("info"), kind=Kind.COST_DIGEST, dedup_key="digest-1")
        item = Marked(marks=("monitor.cost_digest:2027-02-28",), alert=digest)
        told = a.enqueue_marked([item], NOW) + b.enqueue_marked([item], NOW)
    finally:
        a.close()
        b.close()
    assert len(told) == 1


def test_an_older_sqlite_file_gets_its_ledger_from_the_stored_states(tmp_path: Path) -> None:
    path = tmp_path / "v5.db"
    store = SqliteStore(path)
    store.commit_poll("tg", [job("ft-1", Status.SUCCEEDED, price=7.5)], ProviderHealth(), [], NOW)
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("DROP TABLE ledger; DROP TABLE marks; PRAGMA user_version = 5;")
    conn.close()
    migrated = SqliteStore(path)
    try:
        (entry,) = migrated.ledger()
        assert (entry.job_id, entry.price_usd, entry.model, entry.created_at) == (
            "ft-1", 7.5, "llama-8b", NOW - 10 * DAY
        )  # fmt: skip
        assert migrated.connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        migrated.close()


def test_an_older_postgresql_schema_gets_its_ledger_too(pg_url: str) -> None:
    store = PgStore(pg_url)
    assert store.lead("tg", timedelta(minutes=1)) is not None
    store.commit_poll("tg", [job("ft-1", Status.CANCELLED, price=13.06)], ProviderHealth(), [], NOW)
    store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(b"DROP TABLE ledger")
        conn.execute(b"DROP TABLE marks")
        conn.execute(b"DELETE FROM ftmon_schema WHERE version >= 4")
    migrated = PgStore(pg_url)
    try:
        (entry,) = migrated.ledger()
        assert (entry.job_id, entry.status, entry.price_usd) == ("ft-1", "cancelled", 13.06)
        assert entry.created_at == NOW - 10 * DAY
    finally:
        migrated.close()
    assert len(PG_MIGRATIONS) == 5


def test_a_read_only_postgresql_store_creates_and_migrates_nothing(pg_url: str) -> None:
    """`ftmon status` and `cost` read a shared database without upgrading it: an upgrade
    by a read would make the previous release's replicas refuse the database."""
    with pytest.raises(StoreError, match="holds no ftmon state yet; `ftmon run` creates it"):
        PgStore(pg_url, read_only=True)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute(b"SELECT to_regclass('ftmon_schema')").fetchone() == (None,)
    PgStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(b"DROP TABLE ledger")
        conn.execute(b"DROP TABLE marks")
        conn.execute(b"DELETE FROM ftmon_schema WHERE version >= 4")
    reader = PgStore(pg_url, read_only=True)
    try:
        assert reader.all_jobs() == []
        with pytest.raises(StoreError, match="predates the cost ledger; `ftmon run`"):
            reader.ledger()
    finally:
        reader.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute(b"SELECT max(version) FROM ftmon_schema").fetchone() == (3,)


def test_cost_on_a_file_from_before_the_ledger_says_how_to_upgrade(tmp_path: Path) -> None:
    """`ftmon cost` opens the file read-only (never migrating it): a file from before the
    ledger is named with the way to upgrade it, not a bare missing-table error."""
    path = tmp_path / "v5.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("DROP TABLE ledger; DROP TABLE marks; PRAGMA user_version = 5;")
    conn.close()
    reader = SqliteStore(path, read_only=True)
    try:
        with pytest.raises(StoreError, match="predates the cost ledger; `ftmon run`"):
            reader.ledger()
    finally:
        reader.close()
