"""`monitor.api_changed`: the first sighting of something new in a provider's API.

Providers mark what they do not know as `Novelty` on the job or event that carried it (a
new status, event type or level, a field that no longer parses). A new value means ftmon
may be missing facts before any job is missed: Together's list once returned values its
own SDK rejected, and OpenAI once added a status under monitors that then stopped on it.

Each (what, value) is told once per provider, ever: the provider's health remembers it
(`ProviderHealth.api_seen`), and the dedup key keeps a replay from enqueuing it twice. It
is a warning and never resolves: a value does not become known by time passing. Memory is
capped, so an API sending a new value on every line cannot grow the state without bound;
past the cap, new values are no longer alerted (unknown statuses are still logged).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.core.alerts import KIND_HINTS, Alert, Kind, Severity
from monitor.core.memory import ProviderHealth
from monitor.core.model import JobEvent, JobSnapshot

SEEN_CAP = 200  # novelties remembered per provider; a real API change is a handful
VALUE_CAP = 80  # characters of a provider's value quoted in a message


@dataclass(frozen=True, slots=True, kw_only=True)
class Sighting:
    """One novelty and the first job it was seen on."""

    what: str
    value: str
    job_id: str

    @property
    def key(self) -> str:
        return f"{self.what}={self.value}"


def sightings(polled: Iterable[tuple[JobSnapshot, Sequence[JobEvent]]]) -> list[Sighting]:
    """Every distinct novelty of one poll, each with the first job that carried it."""
    found: dict[str, Sighting] = {}
    for snapshot, events in polled:
        novelties = [*snapshot.novelties, *(n for e in events for n in e.novelties)]
        for novelty in novelties:
            value = novelty.value[:VALUE_CAP]
            sighting = Sighting(what=novelty.what, value=value, job_id=snapshot.id)
            found.setdefault(sighting.key, sighting)
    return list(found.values())


def first_sightings(
    health: ProviderHealth,
    provider: str,
    seen: Sequence[Sighting],
    now: datetime,
    provider_kind: str | None = None,
) -> tuple[ProviderHealth, list[Alert]]:
    """The sightings not told before become alerts, and are remembered in `health`."""
    known = set(health.api_seen)
    alerts: list[Alert] = []
    for sighting in seen:
        if sighting.key in known or len(known) >= SEEN_CAP:
            continue
        known.add(sighting.key)
        alerts.append(_alert(provider, provider_kind, sighting, now))
    if not alerts:
        return health, []
    return replace(health, api_seen=frozenset(known)), alerts


def _alert(provider: str, provider_kind: str | None, sighting: Sighting, now: datetime) -> Alert:
    return Alert(
        kind=Kind.API_CHANGED,
        severity=Severity.WARNING,
        provider=provider,
        provider_kind=provider_kind,
        job_id=None,
        at=now,
        summary=(
            f"The API sent a {sighting.what} ftmon does not know: {sighting.value!r} "
            f"(first on job {sighting.job_id}). ftmon may be missing facts about jobs."
        ),
        dedup_key=f"{provider}:{Kind.API_CHANGED}:{sighting.key}",
        hint=KIND_HINTS[Kind.API_CHANGED],
        facts={"what": sighting.what, "value": sighting.value, "example_job": sighting.job_id},
    )
