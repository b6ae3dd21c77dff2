"""Wiring shared by `run --once`, the daemon and the demo: clients, store, poll service.

Also the one place where what a test may inject comes in: `Seams` (the clock, the daemon's
poll interval, how the SQLite file is opened) is passed down from the entry point
(`monitor.cli.main(seams=…)`); production passes none and reads no test variable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import structlog

from monitor.app.poll import Clock, PollOutcome, PollService
from monitor.core.alerts import Alert, Severity
from monitor.core.errors import StoreError
from monitor.core.settings import Config
from monitor.delivery.report import DeliveryReport  # counts only: apprise stays unloaded
from monitor.providers import ProviderClient, ResponseCounter, make_client
from monitor.storage.base import Store
from monitor.storage.factory import open_store
from monitor.storage.sqlite_file import Connect

log = structlog.get_logger("ftmon.wiring")
EXIT_OK, EXIT_WARNING, EXIT_FAILURE, EXIT_UNPOLLED = 0, 1, 2, 3
LED_ELSEWHERE = "not polled: another replica leads this provider (shared state)"


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Seams:
    """What a test entry point injects into a real `ftmon` process; production uses none.

    `clock` tells the time (a test pins it to the simulator's virtual time);
    `poll_seconds` overrides the daemon's poll interval with fractions of a second;
    `connect` opens the SQLite file (a test caps its size or kills the process at the Nth
    statement); `claim_for` shortens how long a claimed delivery stays invisible to other
    dispatchers (`dispatch.CLAIM_FOR`), so the replica kill suite sees a send interrupted
    by a kill retried within the test.
    """

    clock: Clock = system_clock
    poll_seconds: float | None = None
    connect: Connect | None = None
    claim_for: timedelta | None = None


@dataclass
class Runtime:
    config: Config
    store: Store
    clients: dict[str, ProviderClient]
    service: PollService
    clock: Clock

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        self.store.close()


def open_runtime(
    config: Config,
    clock: Clock,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    counter: Callable[[str], ResponseCounter] | None = None,
    connect: Connect | None = None,
) -> Runtime:
    """Open the store and one pooled client per provider (`counter` counts its responses)."""
    store = open_store(config.monitor, connect=connect)
    clients = {
        p.name: make_client(
            p, transport=transport, on_response=counter(p.name) if counter else None
        )
        for p in config.providers
    }
    service = PollService(config, store, clients, clock)
    return Runtime(config=config, store=store, clients=clients, service=service, clock=clock)


@dataclass
class CycleReport:
    """What one cycle over every provider raised, and the exit status it implies."""

    outcomes: list[PollOutcome] = field(default_factory=list)
    delivery: DeliveryReport | None = None

    @property
    def alerts(self) -> list[Alert]:
        return [a for o in self.outcomes for a in o.enqueued]

    @property
    def exit_status(self) -> int:
        """DESIGN section 6: failure 2, else unpolled provider 3, else warning 1, else 0."""
        severities = {a.severity for a in self.alerts}
        if Severity.FAILURE in severities:
            return EXIT_FAILURE
        if any(not o.ok for o in self.outcomes):
            return EXIT_UNPOLLED
        if Severity.WARNING in severities:
            return EXIT_WARNING
        return EXIT_OK

    def summary(self, label_metadata: Sequence[str] = ()) -> dict[str, object]:
        return {
            "exit_status": self.exit_status,
            "providers": [
                {"provider": o.provider, "ok": o.ok, "error": o.error, "jobs": o.jobs_seen}
                for o in self.outcomes
            ],
            "delivery": None
            if self.delivery is None
            else {
                "delivered": self.delivery.delivered,
                "inhibited": self.delivery.inhibited,  # covered by a provider incident
                "waiting": self.delivery.waiting,  # group_wait, or a burst's hold
                "retrying": self.delivery.retrying,
                "failed": self.delivery.failed,
                "unmatched": self.delivery.unmatched,
                "disabled_channels": self.delivery.disabled,
            },
            "alerts": [
                {
                    "kind": str(a.kind),
                    "severity": str(a.severity),
                    "provider": a.provider,
                    "job": a.job_id,
                    "cause": str(a.cause) if a.cause else None,
                    "summary": a.summary,
                    "hint": a.hint,
                    "labels": a.label_line(label_metadata),
                }
                for a in self.alerts
            ],
        }


async def poll_all(runtime: Runtime) -> CycleReport:
    """One cycle over every provider, the providers polled at the same time.

    On a shared (PostgreSQL) state a provider is polled only if this run can take its lease
    (another replica's running daemon keeps it); on SQLite `lead` always succeeds.

    A provider's failure to be polled is an outcome, and so is a bug in one provider's
    poll (logged with its traceback): the other providers' alerts are still delivered and
    the run exits 3, not 70. A store error is raised here as itself once every poll is
    over: nothing could be recorded, so nothing can be delivered.
    """
    names = [p.name for p in runtime.config.providers]
    outcomes: dict[str, PollOutcome] = {}
    crashed: list[Exception] = []

    async def poll(name: str) -> None:
        try:
            if runtime.store.lead(name, runtime.config.monitor.lease) is None:
                outcomes[name] = PollOutcome(provider=name, ok=False, error=LED_ELSEWHERE)
                return
            outcomes[name] = await runtime.service.poll(name)
        except StoreError as exc:  # re-raised below, unwrapped from the task group
            crashed.append(exc)
        except Exception as exc:  # the boundary: one provider's bug is its failed poll
            log.exception("poll_crashed", provider=name)
            try:
                outcomes[name] = runtime.service.record_crash(name, exc)
            except StoreError as store_exc:
                crashed.append(store_exc)

    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(poll, name)
    for name in names:  # a shared state: hand the leases straight back
        runtime.store.step_down(name)
    if crashed:
        raise crashed[0]
    return CycleReport(outcomes=[outcomes[name] for name in names])
