"""A third provider, defined in this file alone, gets the core's whole behaviour.

DESIGN's promise is that adding a provider is one new file. The "provider module" below
declares its traits and normalizes its own (made-up) wire words into the core's records;
the core then raises started, succeeded, cancelled-with-cause, restart chains, loss
anomalies, overruns and dashboard links for it without knowing its name.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.core.alerts import Cause, Kind
from monitor.core.memory import JobState
from monitor.core.model import (
    EventKind,
    JobEvent,
    JobSnapshot,
    Level,
    LossPoint,
    Phase,
    ProviderTraits,
    Status,
)
from monitor.core.provider_poll import PolledJob, diff_provider
from monitor.core.reads import losses_due, retrieve_reason
from monitor.core.settings import Thresholds

# --- the provider "module" -------------------------------------------------------------

TRAITS = ProviderTraits(
    kind="acme",
    base_url="https://api.acme.test/v2",
    dashboard_url="https://console.acme.test/tunes/{job_id}",
    events_cursor=True,
    list_pages=True,
    losses_need_request=True,
    restarts_jobs=True,
    cancels_jobs=True,
    list_lacks_progress=True,
    retrieve_has_log=False,
    unexplained_cancel_hint="Acme stops jobs on its own; see its audit log.",
)
STATUS = {
    "IN_LINE": (Status.QUEUED, Phase.WAITING),
    "LEARNING": (Status.RUNNING, Phase.TRAINING),
    "PACKING": (Status.RUNNING, Phase.FINISHING),
    "READY": (Status.SUCCEEDED, Phase.ENDED),
    "BROKEN": (Status.FAILED, Phase.ENDED),
    "HALTED": (Status.CANCELLED, Phase.ENDED),
}
KINDS = {
    "acme.begin": EventKind.STARTED,
    "acme.loop": EventKind.TRAINING,
    "acme.pass": EventKind.EPOCH,
    "acme.halt": EventKind.STOPPED,
    "acme.respawn": EventKind.RESTARTED,
    "acme.fault": EventKind.ERROR,
}
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def job(job_id: str, word: str, minute: float = 0, **fields: object) -> JobSnapshot:
    status, phase = STATUS[word]
    snap = JobSnapshot(
        provider="acme-prod",
        kind=TRAITS.kind,
        id=job_id,
        status=status,
        raw_status=word,
        created_at=T0 + timedelta(minutes=minute),
        phase=phase,
        traits=TRAITS,
        provider_fault=word == "BROKEN",
        model="acme-7b",
        training_file="blob-1",
    )
    return replace(snap, **fields)  # type: ignore[arg-type]


def line(kind_word: str, message: str, minute: float, **extra: object) -> JobEvent:
    return JobEvent(
        key=f"{kind_word}@{minute}",
        created_at=T0 + timedelta(minutes=minute),
        type=kind_word,
        kind=KINDS[kind_word],
        level=Level.INFO,
        message=message,
        **extra,  # type: ignore[arg-type]
    )


# --- the core's behaviour for it ---------------------------------------------------------

TH = replace(Thresholds(), progress_stall=timedelta(days=1))


def poll(
    states: dict[str, JobState], polled: list[PolledJob], minute: float
) -> list[tuple[Kind, Cause | None]]:
    changed, alerts = diff_provider(states, polled, T0 + timedelta(minutes=minute), TH)
    states.update({s.job_id: s for s in changed})
    return [(a.kind, a.cause) for a in alerts]


def test_a_third_provider_gets_starts_successes_links_and_losses() -> None:
    states: dict[str, JobState] = {}
    begin = line("acme.begin", "begun", 1)
    running = job("a-1", "LEARNING", estimated_finish=T0 + timedelta(minutes=30))
    first = poll(states, [PolledJob(snapshot=running, events=[begin])], 2)
    assert first == [(Kind.STARTED, None)]
    assert losses_due(running, states["a-1"], T0 + timedelta(minutes=9))  # its trait
    readings = [LossPoint(step=1, loss=1.0), LossPoint(step=2, loss=math.inf)]
    nan = poll(states, [PolledJob(snapshot=running, events=[begin], losses=readings)], 10)
    assert nan == [(Kind.LOSS_ANOMALY, Cause.LOSS_NAN)]
    late = poll(states, [PolledJob(snapshot=running, events=[begin])], 60)
    assert late == [(Kind.ETA_OVERRUN, None)]
    done = job("a-1", "READY", output_name="acme-7b-tuned")
    _, alerts = diff_provider(states, [PolledJob(snapshot=done)], T0 + timedelta(hours=2), TH)
    success = next(a for a in alerts if a.kind is Kind.SUCCEEDED)
    assert success.link == "https://console.acme.test/tunes/a-1"
    assert retrieve_reason(running, states["a-1"], T0 + timedelta(hours=3), stall_alert_due=False)


def test_a_third_provider_gets_causes_and_restart_chains() -> None:
    states: dict[str, JobState] = {}
    halted = job("a-2", "HALTED")
    words = line("acme.halt", "halted: credit balance exhausted", 5)
    assert poll(states, [PolledJob(snapshot=halted, events=[words])], 6) == [
        (Kind.CANCELLED, Cause.BILLING_LIMIT)
    ]
    quiet = poll(states, [PolledJob(snapshot=job("a-3", "HALTED"))], 6)
    assert quiet == [(Kind.CANCELLED, Cause.UNKNOWN)]
    assert states["a-3"].link == "https://console.acme.test/tunes/a-3"
    respawn = line("acme.respawn", "respawned as a-5", 8, names_job="a-5")
    broken = job("a-4", "BROKEN")
    chain = poll(states, [PolledJob(snapshot=broken, events=[respawn])], 9)
    assert (Kind.RESTARTED, Cause.PROVIDER_ERROR) in chain
    poll(states, [PolledJob(snapshot=job("a-5", "IN_LINE", 8))], 10)
    assert states["a-5"].restart.of == "a-4"


def test_the_same_provider_without_restarts_never_chains() -> None:
    """Flip one trait: a failure followed by a look-alike job is a new job, not a restart."""
    plain = replace(TRAITS, restarts_jobs=False)
    states: dict[str, JobState] = {}
    broken = job("b-1", "BROKEN", traits=plain)
    events = [line("acme.fault", "internal fault on node 7", 3)]
    poll(states, [PolledJob(snapshot=broken, events=events)], 4)
    alerts = poll(states, [PolledJob(snapshot=job("b-2", "IN_LINE", 5, traits=plain))], 6)
    assert Kind.RESTARTED not in [kind for kind, _ in alerts]
    assert states["b-2"].restart.of is None
