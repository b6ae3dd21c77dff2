"""The PostgreSQL store on a real throwaway server: schema and migrations, ours-only, the
lease and its fence, the shared outbox's claims, and a lost database as a StoreError.

(Every dispatch and retention behaviour also runs on this backend: the `store` fixtures
of tests/delivery/test_dispatch.py and tests/storage/test_retention.py cover both.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TypeVar

import psycopg
import pytest

from monitor.core.alerts import Kind
from monitor.core.diff import diff
from monitor.core.errors import FencedError, StoreError
from monitor.core.memory import ProviderHealth
from monitor.core.policy import TokenBucket
from monitor.core.samples import sample_alert
from monitor.core.settings import RouteConfig, Thresholds
from monitor.storage.pg_schema import MIGRATIONS
from monitor.storage.postgresql import PgStore
from tests.core.factories import at, event, together
from tests.pgserver import PgServer

LEASE = timedelta(seconds=30)
T = TypeVar("T")
ROUTES = [RouteConfig(channels=("hook",))]


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[PgStore, PgStore]]:
    """Two replicas' stores on one database."""
    a, b = PgStore(pg_url, holder="replica-a"), PgStore(pg_url, holder="replica-b")
    yield a, b
    a.close()
    b.close()


def sql(url: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement.encode())
        return cur.fetchall() if cur.description else []


def failed_job():  # type: ignore[no-untyped-def]
    start = event("job_start", "Job started", 1)
    error = event("job_error", "Hardware failure", 40)
    return diff(None, together("error"), [start, error], at(41), Thresholds())


def test_schema_is_versioned_and_applied_once(pg_url: str) -> None:
    """The first store creates the schema; a second start applies nothing again."""
    PgStore(pg_url).close()
    PgStore(pg_url).close()
    versions = sql(pg_url, "SELECT version FROM ftmon_schema ORDER BY version")
    assert versions == [(n,) for n in range(1, len(MIGRATIONS) + 1)]


def test_an_older_schema_is_migrated_forward(pg_url: str) -> None:
    """A database left at version 1 (before shared rate limits) gets version 2 at start,
    its rows intact."""
    sql(
        pg_url,
        "CREATE TABLE ftmon_schema (version integer PRIMARY KEY, applied_at "
        "timestamptz NOT NULL DEFAULT now())",
    )
    for statement in filter(str.strip, MIGRATIONS[0].split(";")):
        sql(pg_url, statement)
    sql(pg_url, "INSERT INTO ftmon_schema (version) VALUES (1)")
    sql(pg_url, "INSERT INTO meta (key, value) VALUES ('kept', 'yes')")
    PgStore(pg_url).close()
    assert sql(pg_url, "SELECT max(version) FROM ftmon_schema") == [(len(MIGRATIONS),)]
    assert sql(pg_url, "SELECT value FROM meta WHERE key = 'kept'") == [("yes",)]
    assert sql(pg_url, "SELECT count(*) FROM buckets") == [(0,)]


def test_replicas_starting_together_migrate_once(pg_url: str) -> None:
    """Several replicas opening a new database at the same instant take turns."""
    errors: list[BaseException] = []

    def start() -> None:
        try:
            PgStore(pg_url).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sql(pg_url, "SELECT count(*) FROM ftmon_schema") == [(len(MIGRATIONS),)]


def test_replicas_share_a_channels_rate_limit(two: tuple[PgStore, PgStore]) -> None:
    """Two replicas' dispatchers spend one bucket: with 2 tokens, the third message of
    either waits, and says until when."""
    a, b = two
    fresh = TokenBucket(capacity=2.0, per=timedelta(minutes=1), tokens=2.0)
    now = at(1)
    assert a.outbox.tokens("hook", fresh, now) == 2.0
    first = a.outbox.take_token("hook", fresh, now)
    second = b.outbox.take_token("hook", fresh, now)
    third = a.outbox.take_token("hook", fresh, now)
    assert first is not None and first.go and second is not None and second.go
    assert third is not None and not third.go and third.until == now + timedelta(seconds=30)
    assert b.outbox.tokens("hook", fresh, now) == 0.0


def test_newer_schema_is_refused(pg_url: str) -> None:
    PgStore(pg_url).close()
    sql(pg_url, f"INSERT INTO ftmon_schema (version) VALUES ({len(MIGRATIONS) + 1})")
    with pytest.raises(StoreError, match="newer than this ftmon understands"):
        PgStore(pg_url)


def test_a_database_of_something_else_is_never_touched(pg_url: str) -> None:
    sql(pg_url, "CREATE TABLE invoices (id int)")
    with pytest.raises(StoreError, match="not an ftmon state"):
        PgStore(pg_url)
    assert sql(pg_url, "SELECT to_regclass('jobs') IS NULL") == [(True,)]


def test_the_leader_commits_and_a_takeover_fences_the_old_one(
    two: tuple[PgStore, PgStore],
) -> None:
    """A takes the lease and commits; B cannot take it while it runs; once it lapses B
    takes it at a higher epoch, and A's next commit is refused with nothing written."""
    a, b = two
    state, alerts = failed_job()
    first = a.lead("tg", LEASE)
    assert first is not None and first.holder == "replica-a"
    assert b.lead("tg", LEASE) is None
    assert a.commit_poll("tg", [state], ProviderHealth(), alerts, at(41)) == alerts
    sql(a.url, "UPDATE leases SET expires_at = now() - interval '1 second'")  # A is paused
    second = b.lead("tg", LEASE)
    assert second is not None and second.epoch == first.epoch + 1
    late = sample_alert(Kind.CANCELLED, at(50), "late")
    with pytest.raises(FencedError):
        a.commit_poll("tg", [], ProviderHealth(), [late], at(50))
    assert [x.dedup_key for x in b.outbox_alerts()] == [x.dedup_key for x in alerts]
    assert a.lead("tg", LEASE) is None  # A learns it lost the lease
    assert b.commit_poll("tg", [], ProviderHealth(), [late], at(51)) == [late]


def test_a_commit_in_flight_holds_off_the_takeover(two: tuple[PgStore, PgStore]) -> None:
    """The fence reads the lease FOR SHARE: a takeover waits until the commit is over."""
    a, b = two
    assert a.lead("tg", LEASE) is not None
    sql(a.url, "UPDATE leases SET expires_at = now() - interval '1 second'")
    with a.pool.connection() as conn, conn.transaction():
        conn.execute("SELECT 1 FROM leases WHERE provider = 'tg' FOR SHARE")
        taken: list[object] = []
        thread = threading.Thread(target=lambda: taken.append(b.lead("tg", LEASE)))
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive() and taken == []  # waiting on the share lock
    thread.join()
    assert taken and taken[0] is not None


def test_step_down_hands_over_at_once(two: tuple[PgStore, PgStore]) -> None:
    a, b = two
    assert a.lead("tg", LEASE) is not None
    a.step_down("tg")
    got = b.lead("tg", LEASE)
    assert got is not None and got.epoch == 2
    assert [(r.provider, r.holder) for r in a.leases()] == [("tg", "replica-b")]


def test_replicas_announce_themselves(two: tuple[PgStore, PgStore]) -> None:
    a, b = two
    a.announce("ready")
    b.announce("database lost")
    assert {(r.holder, r.note) for r in a.replicas()} == {
        ("replica-a", "ready"),
        ("replica-b", "database lost"),
    }


def test_two_replicas_never_claim_the_same_row(two: tuple[PgStore, PgStore]) -> None:
    """Both see the row due; only one claim takes it (the visibility timeout is its
    next_attempt_at, moved forward by the claim)."""
    a, b = two
    alert = sample_alert(Kind.FAILED, at(1), "j1")
    a.enqueue([alert], at(1))
    routed = a.outbox.route_new(ROUTES, ["hook"], at(1))
    assert b.outbox.route_new(ROUTES, ["hook"], at(1)) == []  # routed once
    assert [r.channels for r in routed] == [("hook",)]
    seen_a, seen_b = a.outbox.due(at(2)), b.outbox.due(at(2))
    assert len(seen_a) == len(seen_b) == 1
    taken = a.outbox.claim(seen_a, at(2) + timedelta(minutes=5))
    assert len(taken) == 1
    assert b.outbox.claim(seen_b, at(2) + timedelta(minutes=5)) == []
    assert b.outbox.due(at(3)) == []  # invisible until the claim lapses
    assert len(b.outbox.due(at(2) + timedelta(minutes=6))) == 1


def back(call: Callable[[], T]) -> T:
    """`call`'s result once the pool has reconnected (it retries in the background)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return call()
        except StoreError:
            if time.monotonic() > deadline:
                raise


def test_a_lost_database_is_a_store_error_naming_it_without_the_password(
    pg_server: PgServer, tmp_path: object
) -> None:
    """The server stops: reads, commits and lease renewals fail as StoreError (quickly,
    within the pool's timeout), naming the database; when it is back, all work again."""
    url = pg_server.create_database("lost_and_found")
    store = PgStore(url, password="hunter2-not-used", timeout=1.0)
    try:
        assert store.lead("tg", LEASE) is not None
        pg_server.stop()
        try:
            with pytest.raises(StoreError) as caught:
                store.lead("tg", LEASE)
            assert "lost_and_found" in str(caught.value)
            assert "hunter2" not in str(caught.value)
            with pytest.raises(StoreError):
                store.all_jobs()
        finally:
            pg_server.start()
        assert back(lambda: store.lead("tg", LEASE)) is not None  # the pool reconnects
        assert store.all_jobs() == []
    finally:
        store.close()
