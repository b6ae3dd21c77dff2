"""How often to poll a provider, from what its jobs are doing (pure).

Polling costs requests against the provider's rate limit, and most of a job's life is
waiting or finished. So: the configured `poll_interval` while something runs (that is
when stalls, losses and endings happen), twice it while jobs only wait in a queue, five
times it (at most ten minutes, never below the base) when nothing is unfinished. A
failing provider is retried at the base interval, so recovery is seen promptly; a
Retry-After is honoured on top of that by the scheduler.
"""

from __future__ import annotations

IDLE_CEILING = 600.0


def next_interval(base: float, *, ok: bool, running: bool, waiting: bool) -> float:
    if not ok or running:
        return base
    if waiting:
        return base * 2
    return max(base, min(base * 5, IDLE_CEILING))
