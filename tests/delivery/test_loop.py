"""The delivery loops: the drain of `--once` and shutdown, and the daemon's loop."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import anyio

from monitor.core.settings import RouteConfig
from monitor.delivery import loop
from monitor.delivery.dispatch import Dispatcher
from monitor.storage.base import Store
from tests.delivery.kit import cancellations, hook_channel
from tests.receivers import HttpReceiver


async def test_drain_ignores_group_wait_and_run_forever_stops_on_request(
    store: Store, http_receiver: HttpReceiver
) -> None:
    hook = hook_channel(http_receiver)
    route = RouteConfig(channels=("hook",), group_wait=timedelta(minutes=5))
    dispatcher = Dispatcher(store, hook, (route,))
    now = datetime.now(UTC)
    store.enqueue(cancellations(3, now, "d"), now)
    report = await loop.drain(dispatcher, 5.0)
    assert (report.messages, report.delivered) == (1, 3)

    store.enqueue(cancellations(1, now, "f"), now)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(loop.run_forever, dispatcher, stop, interval=0.01))
        await anyio.sleep(0.1)
        stop.set()
    assert len(http_receiver.requests) == 1  # the new alert waits out its group_wait
    assert store.outbox.pending_summary().totals == {"sent": 3, "pending": 1}
