"""Which providers this replica polls, on a state several replicas share (PostgreSQL).

Every `lease_renew` it takes or renews the lease of each provider (`Store.lead`, one short
statement each, run in a worker thread so a slow database never stalls the event loop). A
provider's poll runs only while this replica holds its lease, and for no longer than the
lease it last got (counted from before the statement was sent, on the monotonic clock);
the commit is fenced by the epoch in any case, so the local deadline only spares a wasted
poll.

When the database cannot be reached, the replica drops every lease at once, stops polling
and sending (`lost` is set: the daemon's loops look at it), /readyz turns 503 with the
reason, and it is logged once; when a round succeeds again it is logged and every loop
resumes from what the database holds, so nothing already sent is sent again.

On a SQLite state (one process) this replica always leads and nothing here runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import partial

import anyio
import structlog

from monitor.app.health import HealthState
from monitor.app.metrics import Metrics
from monitor.core.errors import StoreError
from monitor.storage.base import Lease, Store

log = structlog.get_logger("ftmon.leadership")


class Leadership:
    def __init__(
        self,
        store: Store,
        providers: Sequence[str],
        *,
        lease: timedelta,
        renew: timedelta,
        metrics: Metrics,
        health: HealthState,
    ) -> None:
        self.store, self.providers = store, tuple(providers)
        self.lease, self.renew = lease, renew
        self.metrics, self.health = metrics, health
        self._until: dict[str, float] = {}  # provider -> monotonic deadline of our lease
        self._epochs: dict[str, int] = {}
        self.lost: str | None = None  # why the database is unreachable, while it is

    def leads(self, provider: str) -> bool:
        if not self.store.shared:
            return True
        return self.lost is None and time.monotonic() < self._until.get(provider, 0.0)

    @property
    def leading(self) -> list[str]:
        return [p for p in self.providers if self.leads(p)]

    async def run(self, stop: anyio.Event) -> None:
        """Renew every `renew` until `stop`; then hand the leases over (a clean stop)."""
        while not stop.is_set():
            await self.round()
            with anyio.move_on_after(self.renew.total_seconds()):
                await stop.wait()

    async def round(self) -> None:
        """One take-or-renew of every provider's lease, and this replica's announcement."""
        if not self.store.shared:
            return
        for provider in self.providers:
            started = time.monotonic()
            try:
                got = await anyio.to_thread.run_sync(self.store.lead, provider, self.lease)
            except StoreError as exc:
                self._lose_database(str(exc))
                return
            self._record(provider, got, started)
        await self._announce()

    async def _announce(self) -> None:
        note = f"leads {', '.join(self.leading) or 'nothing'}"
        try:
            await anyio.to_thread.run_sync(self.store.announce, note)
        except StoreError as exc:
            self._lose_database(str(exc))
            return
        if self.lost is not None:
            log.warning("state_database_back", was=self.lost, leads=self.leading)
            self.lost = None
        self.metrics.database_up(True)
        self.health.mark_store(None)
        followed = [p for p in self.providers if not self.leads(p)]
        self.health.mark_standby(followed, idle=not self.leading)

    def _record(self, provider: str, got: Lease | None, started: float) -> None:
        before = self._epochs.get(provider)
        if got is None:
            outcome = "lost" if provider in self._until else "standby"
            if provider in self._until:
                log.warning("leadership_lost", provider=provider, epoch=before)
            self._until.pop(provider, None)
            self._epochs.pop(provider, None)
            self.metrics.lease_round(provider, outcome, leading=False, epoch=None)
            return
        outcome = "renewed" if before == got.epoch else "taken"
        if outcome == "taken":
            log.info("leadership_taken", provider=provider, epoch=got.epoch)
        self._until[provider] = started + self.lease.total_seconds()
        self._epochs[provider] = got.epoch
        self.metrics.lease_round(provider, outcome, leading=True, epoch=got.epoch)

    def _lose_database(self, reason: str) -> None:
        if self.lost is None:
            log.error("state_database_lost", error=reason, stopped=self.leading)
        self.lost = reason
        for provider in self.providers:
            if provider in self._until:
                self.metrics.lease_round(provider, "failed", leading=False, epoch=None)
        self._until.clear()
        self._epochs.clear()
        self.metrics.database_up(False)
        self.health.mark_store(reason)

    def fenced(self, provider: str) -> None:
        """A commit was refused by the epoch: another replica leads now."""
        log.warning("leadership_fenced", provider=provider, epoch=self._epochs.get(provider))
        self._until.pop(provider, None)
        self._epochs.pop(provider, None)
        self.metrics.lease_round(provider, "lost", leading=False, epoch=None)

    async def step_down(self) -> None:
        """Release what this replica leads, so another takes over at once (clean stop)."""
        for provider in self.leading if self.store.shared else []:
            self._until.pop(provider, None)
            try:
                await anyio.to_thread.run_sync(partial(self.store.step_down, provider))
            except StoreError as exc:
                log.warning("lease_not_released", provider=provider, error=str(exc))
                return
