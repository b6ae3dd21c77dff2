"""Waiting for a process or server that runs on its own (a daemon, a webhook sender):
poll a condition until it holds, or fail saying what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    predicate: Callable[[], bool],
    timeout: float = 30.0,
    what: str = "",
    detail: Callable[[], object] | None = None,
) -> None:
    """Poll `predicate` until true; on timeout fail, saying what `detail` returns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    extra = f": {detail()}" if detail is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}{extra}")
