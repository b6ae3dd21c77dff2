"""The dispatcher's inhibition stage (shell): reads the providers' incidents from the store
and applies `inhibition.decide` to the due rows, logging each decision with its reason.

Rows an incident covers are closed as `inhibited` in the outbox (never sent, kept for
`explain` and `status`); rows that wait to see whether a burst becomes an incident stay
pending and wake the loop when their hold ends. The store is read only when a due row
could be covered at all, so a pass with none costs nothing.
"""

from __future__ import annotations

from datetime import datetime

from structlog.typing import FilteringBoundLogger

from monitor.core import incidents, inhibition
from monitor.core.deliveries import Decision, Delivery, Reason
from monitor.core.settings import Incidents
from monitor.delivery.report import about
from monitor.storage.base import Store


class Inhibitor:
    def __init__(self, store: Store, settings: Incidents, log: FilteringBoundLogger) -> None:
        self._store = store
        self._settings = settings
        self._log = log

    def __call__(
        self, rows: list[Delivery], now: datetime
    ) -> tuple[list[Delivery], list[Delivery], list[Decision]]:
        """(rows to go on with, rows inhibited now, the waits of rows held for a burst)."""
        coverable = {d.alert.provider for d in rows if incidents.trouble_of(d.alert)}
        if not self._settings.enabled or not coverable:
            return rows, [], []
        covers = self._covers(coverable)
        passed: list[Delivery] = []
        held: dict[str, list[Delivery]] = {}
        waits: list[Decision] = []
        for d in rows:
            decision = inhibition.decide(d, covers.get(d.alert.provider), self._settings, now)
            if decision.go:
                passed.append(d)
            elif decision.reason is Reason.INHIBITED:
                held.setdefault(d.alert.provider, []).append(d)
            else:
                waits.append(decision)
                self._log.debug(
                    "delivery_waiting",
                    reason=decision.reason,
                    channel=d.channel,
                    **about(d.alert),
                    until=decision.until.isoformat() if decision.until else None,
                )
        inhibited = [d for group in held.values() for d in group]
        for provider, group in held.items():
            since = covers[provider].since
            assert since is not None  # only a firing incident inhibits
            self._store.outbox.inhibit(group, inhibition.note(provider, since))
            self._log.info(
                "delivery_inhibited",
                reason=Reason.INHIBITED,
                provider=provider,
                incident_since=since.isoformat(),
                alerts=len(group),
                jobs=sorted({str(d.alert.job_id) for d in group}),
                channels=sorted({d.channel for d in group}),
            )
        return passed, inhibited, waits

    def _covers(self, providers: set[str]) -> dict[str, inhibition.Cover]:
        health = self._store.all_health()
        out = {}
        for name in providers:
            if name not in health:
                continue
            since = incidents.firing_since(health[name])
            channels: frozenset[str] = frozenset()
            if since is not None:
                alert_id = self._store.outbox.alert_id(incidents.firing_key(name, since))
                if alert_id is not None:
                    channels = frozenset(self._store.outbox.delivery_states(alert_id))
            out[name] = inhibition.Cover(
                since=since, channels=channels, troubles=health[name].troubles
            )
        return out
