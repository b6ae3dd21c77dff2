"""Stopping the scheduler with a job in flight: it may finish, or is cancelled quietly."""

from __future__ import annotations

import logging

import anyio
import pytest

from monitor.app.scheduler import PollScheduler


async def test_a_running_job_finishes_within_the_grace(caplog: pytest.LogCaptureFixture) -> None:
    """A poll in flight at SIGTERM completes before anything it uses is closed."""
    finished: list[bool] = []
    started = anyio.Event()

    async def poll() -> None:
        started.set()
        await anyio.sleep(0.3)
        finished.append(True)

    scheduler = PollScheduler()
    scheduler.add("p", poll, 60)
    scheduler.start()
    await started.wait()
    await scheduler.stop(grace=5)
    assert finished == [True]


async def test_a_job_past_the_grace_is_cancelled_without_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A poll stuck past the grace is cancelled; APScheduler logs no exception for it."""
    started = anyio.Event()

    async def stuck() -> None:
        started.set()
        await anyio.sleep(60)

    scheduler = PollScheduler()
    scheduler.add("p", stuck, 60)
    with caplog.at_level(logging.DEBUG, logger="apscheduler"):
        scheduler.start()
        await started.wait()
        with anyio.fail_after(5):
            await scheduler.stop(grace=0.1)
        await anyio.sleep(0.05)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
