"""Webhook nudges shared through PostgreSQL (a real throwaway server): any replica records,
the listener of another is woken, repeats collapse, and each nudge is taken once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.core.errors import StoreError
from monitor.storage.postgresql import PgStore
from tests import pgserver
from tests.pgserver import PgServer


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[PgStore, PgStore]]:
    a, b = PgStore(pg_url, holder="replica-a"), PgStore(pg_url, holder="replica-b")
    yield a, b
    a.close()
    b.close()


def test_a_nudge_recorded_by_one_replica_wakes_and_reaches_the_other(
    two: tuple[PgStore, PgStore],
) -> None:
    standby, leader = (s.nudges for s in two)
    assert standby is not None and leader is not None
    listener = leader.listen()
    try:
        assert listener.wait(0.05) == frozenset()  # nothing yet: the wait just times out
        standby.record([("openai", "ftjob-1"), ("openai", "ftjob-2"), ("other", "ftjob-9")])
        standby.record([("openai", "ftjob-1")])  # a duplicate webhook before the take
        woken = listener.wait(5.0) | listener.wait(0.2)
        assert woken == {"openai", "other"}
    finally:
        listener.close()
    assert leader.take("openai") == {"ftjob-1", "ftjob-2"}
    assert standby.take("openai") == frozenset()  # taken once, by whoever came first
    assert standby.take("other") == {"ftjob-9"}


def test_a_lost_database_is_a_store_error_for_the_listener() -> None:
    """A server of this test's own: it is stopped under the listener."""
    bindir = pgserver.binaries()
    if bindir is None:
        pytest.skip(pgserver.SKIP_REASON)
    server = PgServer(bindir)
    url = server.create_database("nudges_lost")
    store = PgStore(url, holder="replica-a")
    assert store.nudges is not None
    listener = store.nudges.listen()
    try:
        server.stop()
        with pytest.raises(StoreError, match="cannot listen for webhook nudges"):
            listener.wait(5.0)
    finally:
        listener.close()
        store.close()
        server.close()
