"""Fixtures of the dispatcher tests: the settable clock, and a store on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.storage.base import Store
from monitor.storage.postgresql import PgStore
from monitor.storage.sqlite import SqliteStore
from tests.delivery.kit import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every dispatch behaviour, on both backends (the PostgreSQL one on a throwaway server)."""
    s: Store = (
        SqliteStore(tmp_path / "state.db")
        if request.param == "sqlite"
        else PgStore(request.getfixturevalue("pg_url"))
    )
    yield s
    s.close()
