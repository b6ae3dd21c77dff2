"""Fixtures of the daemon tests: the simulator on the real clock (a running `ftmon run`
polls on its own schedule) and a webhook receiver for what it sends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.simulator import RealClock, Simulator
from tests.receivers import HttpReceiver


@pytest.fixture
def receiver(http_receiver: HttpReceiver) -> HttpReceiver:
    return http_receiver


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(clock=RealClock()) as s:
        yield s
