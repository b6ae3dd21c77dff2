"""Fixtures of the dispatcher tests: the settable clock, and a store on both backends."""

from __future__ import annotations

import pytest

from monitor.storage.base import Store
from tests.clock import Clock
from tests.delivery.kit import T0


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every dispatch behaviour, on both backends."""
    return any_store
