"""A blocking call awaited for a bounded time, in a thread nothing waits for at exit.

apprise blocks, and a receiver that trickles its answer a byte at a time never trips a
socket read timeout: a send can last as long as the receiver likes. anyio's worker
threads are joined when the process exits, so one such send kept `run --once` and a
SIGTERM'd daemon alive for minutes (cron runs then overlap). Here the call runs in a
daemon thread and is awaited at most `bound` seconds; past that it is abandoned (the
thread ends when the receiver lets go, or with the process) and the caller is told so.

apprise itself runs each service call in its own `ThreadPoolExecutor`, whose workers the
interpreter joins at exit, so an abandoned send would still hold the process at its very
end. `abandoned()` says whether any send was; the command line then ends the process at
once (`os._exit`, after flushing) instead of waiting for a receiver that may never let go.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
_abandoned: list[str] = []  # names of the calls given up on, this process


def abandoned() -> bool:
    """Whether any call was abandoned in this process (its thread may still be running)."""
    return bool(_abandoned)


class Abandoned(Exception):
    """The call did not return within its bound; it may still complete on its own."""


async def call_bounded(fn: Callable[[], T], bound: float, *, name: str) -> T:
    """`fn()` in a daemon thread, awaited at most `bound` seconds (else `Abandoned`).

    Cancelling the awaiting task (a drain deadline, SIGTERM) abandons the call too."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(outcome: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(outcome)

    def work() -> None:
        try:
            value = fn()
        except BaseException as exc:  # handed to the awaiting task, raised there
            error = exc
            deliver(lambda: None if future.done() else future.set_exception(error))
            return
        deliver(lambda: None if future.done() else future.set_result(value))

    threading.Thread(target=work, name=name, daemon=True).start()
    try:
        return await asyncio.wait_for(asyncio.shield(future), bound)
    except TimeoutError:
        _abandoned.append(name)
        raise Abandoned(f"no answer within {bound:g}s") from None
    except BaseException:  # cancelled (a drain deadline): abandoned too, if still running
        if not future.done():
            _abandoned.append(name)
        raise
