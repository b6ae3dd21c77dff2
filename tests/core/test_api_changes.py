"""`monitor.api_changed`: each new value told once per provider, ever, with an example job."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.core import api_changes
from monitor.core.alerts import Kind, Severity
from monitor.core.memory import ProviderHealth
from monitor.core.model import JobEvent, JobSnapshot, Level, Novelty, ProviderKind, Status

NOW = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
NEW_STATUS = Novelty(what="status", value="preempted")
NEW_TYPE = Novelty(what="event type", value="JOB_WARMUP")


def snap(job_id: str, *novelties: Novelty) -> JobSnapshot:
    return JobSnapshot(
        provider="together-prod",
        kind=ProviderKind.TOGETHER,
        id=job_id,
        status=Status.UNKNOWN,
        raw_status="preempted",
        created_at=NOW,
        novelties=novelties,
    )


def event(*novelties: Novelty) -> JobEvent:
    return JobEvent(key="k", created_at=NOW, type="job_warmup", level=Level.INFO, message="m",
                    novelties=novelties)  # fmt: skip


def test_sightings_are_distinct_and_name_the_first_job_that_carried_them() -> None:
    polled = [(snap("ft-a", NEW_STATUS), [event(NEW_TYPE)]), (snap("ft-b", NEW_STATUS), [])]
    seen = api_changes.sightings(polled)
    assert [(s.what, s.value, s.job_id) for s in seen] == [
        ("status", "preempted", "ft-a"),
        ("event type", "JOB_WARMUP", "ft-a"),
    ]


def test_a_new_value_is_told_once_and_remembered() -> None:
    seen = api_changes.sightings([(snap("ft-a", NEW_STATUS), [])])
    health, alerts = api_changes.first_sightings(ProviderHealth(), "together-prod", seen, NOW)
    assert [(a.kind, a.severity, a.state) for a in alerts] == [
        (Kind.API_CHANGED, Severity.WARNING, None)
    ]
    assert alerts[0].facts == {"what": "status", "value": "preempted", "example_job": "ft-a"}
    assert "'preempted'" in alerts[0].summary and "ft-a" in alerts[0].summary
    assert (
        alerts[0].label_line() == "kind=monitor.api_changed severity=warning provider=together-prod"
    )
    # the next poll (same value, another job): nothing; the health is left as it was
    again = api_changes.sightings([(snap("ft-c", NEW_STATUS), [])])
    after, more = api_changes.first_sightings(health, "together-prod", again, NOW)
    assert more == [] and after is health


def test_the_same_value_on_another_provider_is_told_there_too() -> None:
    seen = api_changes.sightings([(snap("ft-a", NEW_STATUS), [])])
    _, here = api_changes.first_sightings(ProviderHealth(), "together-prod", seen, NOW)
    _, there = api_changes.first_sightings(ProviderHealth(), "together-eu", seen, NOW)
    assert len(here) == len(there) == 1
    assert here[0].dedup_key != there[0].dedup_key  # the outbox keeps both


def test_memory_is_capped_so_an_api_sending_noise_cannot_grow_the_state() -> None:
    noise = [Novelty(what="event type", value=f"T{i}") for i in range(api_changes.SEEN_CAP + 50)]
    seen = api_changes.sightings([(snap("ft-a", *noise), [])])
    health, alerts = api_changes.first_sightings(ProviderHealth(), "p", seen, NOW)
    assert len(alerts) == api_changes.SEEN_CAP == len(health.api_seen)
    assert ProviderHealth.from_json(health.to_json()) == health  # survives the store
