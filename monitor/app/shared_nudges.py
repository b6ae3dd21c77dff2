"""Webhook nudges across replicas on a shared PostgreSQL state.

Any replica may receive a webhook; only the provider's leader polls it. So, while a
generation runs on a shared state, the receiver's `Relay` queues each nudge, `relay`
records the queue in the database (a worker thread: the event loop never waits on it), and
the database wakes the leaders (`NOTIFY`). `listen` waits for those notifications on a
connection of its own and, for each provider this replica leads, takes the pending nudges
into the local `LocalNudges`, which wakes the provider's `PollJob` for a narrow poll.
`pull` is also run before each full poll: a notification lost (the listener reconnecting,
a leader just taken over) costs at most one poll interval. The nudge carries no fact, so
alerts still come only from what the API shows, committed under the outbox's unique keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import structlog

from monitor.app.nudges import LocalNudges, Relay
from monitor.core.errors import StoreError
from monitor.storage.base import NudgeBoard, NudgeListener

log = structlog.get_logger("ftmon.nudges")

WAIT_SECONDS = 1.0  # how long one wait blocks its worker thread (and so a clean stop)
RETRY_SECONDS = 5.0  # after the database refused the listener


@dataclass
class SharedNudges:
    board: NudgeBoard
    local: LocalNudges
    leads: Callable[[str], bool]
    providers: tuple[str, ...]
    _queued: anyio.Event = field(default_factory=anyio.Event)

    async def pull(self, provider: str) -> None:
        """Take `provider`'s pending nudges into the local ones (which wake its poll)."""
        if not self.leads(provider):
            return
        try:
            jobs = await anyio.to_thread.run_sync(self.board.take, provider)
        except StoreError as exc:  # the next notification or poll tries again
            log.warning("nudges_not_taken", provider=provider, error=str(exc))
            return
        for job_id in sorted(jobs):
            self.local.nudge(provider, job_id)

    async def relay(self, relay: Relay) -> None:
        """Record what the receiver queues, until cancelled (then it nudges locally)."""
        relay.relay(lambda: self._queued.set())  # the event of the moment, not the first
        try:
            while True:
                await self._queued.wait()
                self._queued = anyio.Event()
                batch = relay.take_outgoing()
                try:
                    await anyio.to_thread.run_sync(self.board.record, batch)
                except StoreError as exc:  # the leader's next full poll reads the jobs
                    log.warning("nudges_not_recorded", count=len(batch), error=str(exc))
        finally:
            relay.relay(None)

    async def listen(self) -> None:
        """Wake on the database's notifications, until cancelled; reconnect when lost."""
        while True:
            try:
                listener = await anyio.to_thread.run_sync(self.board.listen)
            except StoreError as exc:
                log.warning("nudge_listener_down", error=str(exc))
                await anyio.sleep(RETRY_SECONDS)
                continue
            try:
                await self._serve(listener)
            except StoreError as exc:
                log.warning("nudge_listener_down", error=str(exc))
            finally:
                listener.close()
            await anyio.sleep(RETRY_SECONDS)

    async def _serve(self, listener: NudgeListener) -> None:
        for provider in self.providers:  # recorded before this connection listened
            await self.pull(provider)
        while True:
            named = await anyio.to_thread.run_sync(listener.wait, WAIT_SECONDS)
            for provider in sorted(named & set(self.providers)):
                await self.pull(provider)
