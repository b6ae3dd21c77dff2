"""When delivery passes run: the daemon's loop, woken early by a doorbell, and the drain that
`--once` and shutdown use to send what can go before exiting.

Apart from `dispatch` so the pipeline reads on its own; both only call `run_once`, and both
take the dispatcher's clock so a pinned or virtual clock paces them too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import anyio

from monitor.core.errors import StoreError
from monitor.delivery.dispatch import Dispatcher
from monitor.delivery.report import DeliveryReport


class Doorbell:
    """Wakes the delivery loop before its interval is up: a poll rings it after it enqueued
    alerts, so they go out at once."""

    def __init__(self) -> None:
        self._rung = anyio.Event()

    def ring(self) -> None:
        self._rung.set()

    async def wait(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await self._rung.wait()
        self._rung = anyio.Event()


async def run_forever(
    dispatcher: Dispatcher,
    stop: anyio.Event,
    *,
    interval: float = 1.0,
    doorbell: Doorbell | None = None,
    after_pass: Callable[[DeliveryReport], None] | None = None,
    paused: Callable[[], bool] = lambda: False,
) -> None:
    """The one delivery loop (the daemon's): a pass, then wait until the next row is due,
    `interval` seconds at most, or until the doorbell rings (a poll just enqueued), and
    again until `stop` is set. A pass that fails is logged and the loop goes on; while
    `paused()` (the state database is lost) no pass is made."""
    bell = doorbell or Doorbell()
    while not stop.is_set():
        delay = interval
        if paused():
            await bell.wait(delay)
            continue
        try:
            report = await dispatcher.run_once()
            if after_pass is not None:
                after_pass(report)
            if report.next_due is not None:
                ahead = (report.next_due - dispatcher.clock()).total_seconds()
                delay = min(interval, max(0.0, ahead))
        except StoreError as exc:  # locked, full or damaged: nothing recorded, try again
            dispatcher.log.error("dispatch_not_recorded", error=str(exc))
        except Exception:  # the boundary: log, keep delivering
            dispatcher.log.exception("dispatch_failed")
        await bell.wait(delay)


async def drain(dispatcher: Dispatcher, seconds: float) -> DeliveryReport:
    """Deliver what can go within `seconds`, ignoring group_wait (`--once`, shutdown)."""
    clock = dispatcher.clock
    total = DeliveryReport()
    start = clock()
    deadline = start + timedelta(seconds=seconds)
    with anyio.move_on_after(seconds):
        while True:
            report = await dispatcher.run_once(flush=True)
            total.add(report)
            if report.next_due is None or report.next_due > deadline:
                break
            wait = (report.next_due - clock()).total_seconds()
            if wait > 0 and clock() == start:
                break  # a clock that stands still (virtual time) never brings it due
            await anyio.sleep(max(0.0, wait))
    return total
