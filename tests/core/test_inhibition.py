"""Inhibition: which per-job rows a provider incident holds back, which wait for a burst to
show, and which always go (pure: a row, the provider's incident and `now` in, a reason out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.core import inhibition
from monitor.core.alerts import Alert, Cause, Kind, Severity
from monitor.core.deliveries import Decision, Delivery, DeliveryStatus, Reason
from monitor.core.memory import Trouble
from monitor.core.settings import Incidents

T0 = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
TG = "together-prod"
ON = Incidents(min_jobs=3, window=timedelta(minutes=30), hold=timedelta(minutes=3))
M = timedelta(minutes=1)


def row(
    job: str | None = "ft-a",
    kind: Kind = Kind.FAILED,
    cause: Cause | None = Cause.PROVIDER_ERROR,
    created: datetime = T0,
    channel: str = "hook",
) -> Delivery:
    alert = Alert(
        kind=kind, severity=Severity.FAILURE, provider=TG, job_id=job, at=created, summary="s",
        dedup_key=f"{job}/{kind}", cause=cause,
    )  # fmt: skip
    return Delivery(
        alert_id=1, channel=channel, status=DeliveryStatus.PENDING, attempts=0,
        next_attempt_at=None, created_at=created, alert=alert,
    )  # fmt: skip


def trouble(job: str, at: datetime) -> Trouble:
    return Trouble(job_id=job, at=at, what="failed")


FIRING = inhibition.Cover(since=T0, channels=frozenset({"hook"}), troubles=(trouble("ft-a", T0),))
BURST = inhibition.Cover(since=None, troubles=(trouble("ft-b", T0 - 5 * M), trouble("ft-a", T0)))
LONE = inhibition.Cover(since=None, troubles=(trouble("ft-a", T0),))
GO = Decision(go=True, reason=Reason.NOT_COVERED)
HELD = Decision(go=False, reason=Reason.INHIBITED)
WAIT = Decision(go=False, reason=Reason.INCIDENT_WAIT, until=T0 + 3 * M)

CASES = [
    # a provider-side failure while its provider's incident fires: held back
    ("covered", row(), FIRING, ON, T0 + M, HELD),
    # a row of the burst that entered the outbox before the incident began (within a window)
    ("burst_before_incident", row(created=T0 - 29 * M), FIRING, ON, T0, HELD),
    # older than one window before the incident: not its evidence, it goes
    ("long_before", row(created=T0 - 31 * M), FIRING, ON, T0, GO),
    # a queue stall is covered like a failure
    ("queue_stall", row(kind=Kind.QUEUE_STALLED, cause=None), FIRING, ON, T0, HELD),
    # user-caused failures are never covered: billing, data, W&B key
    ("billing", row(cause=Cause.BILLING_LIMIT), FIRING, ON, T0, GO),
    ("bad_data", row(cause=Cause.DATA_VALIDATION), FIRING, ON, T0, GO),
    ("wandb_key", row(cause=Cause.WANDB_AUTH), FIRING, ON, T0, GO),
    # a failure whose cause is unknown may be the user's: told
    ("unknown_cause", row(cause=Cause.UNKNOWN), FIRING, ON, T0, GO),
    # good news and other kinds are never covered
    ("success", row(kind=Kind.SUCCEEDED, cause=None), FIRING, ON, T0, GO),
    # alerts about the provider itself are never covered (nor the incident by itself)
    ("provider_level", row(job=None, kind=Kind.PROVIDER_DOWN, cause=None), FIRING, ON, T0, GO),
    # a channel the incident's message never reached keeps its per-job messages
    ("other_channel", row(channel="mail"), FIRING, ON, T0, GO),
    # no incident at this provider (another provider's is not passed)
    ("no_cover", row(), None, ON, T0, GO),
    # the first trouble of a quiet provider is told at once
    ("lone_failure", row(), LONE, ON, T0, GO),
    # another job's trouble in the window: a burst may be starting, wait `hold`
    ("burst_starting", row(), BURST, ON, T0 + M, WAIT),
    # the hold is over and no incident came: told
    ("hold_over", row(), BURST, ON, T0 + 3 * M, GO),
    # another job's trouble more than a window before: no burst
    ("stale_trouble", row(), inhibition.Cover(since=None, troubles=(trouble("ft-b", T0 - 31 * M),)),
     ON, T0, GO),
    # no hold configured: sent at once, only later rows are inhibited
    ("no_hold", row(), BURST, Incidents(hold=timedelta(0)), T0, GO),
    # incidents off: nothing is ever held
    ("disabled", row(), FIRING, Incidents(enabled=False), T0, GO),
]  # fmt: skip


@pytest.mark.parametrize(
    ("delivery", "cover", "settings", "now", "expected"),
    [pytest.param(d, c, s, n, e, id=name) for name, d, c, s, n, e in CASES],
)
def test_decide(
    delivery: Delivery,
    cover: inhibition.Cover | None,
    settings: Incidents,
    now: datetime,
    expected: Decision,
) -> None:
    """One row's decision and its reason, as the dispatcher logs it."""
    assert inhibition.decide(delivery, cover, settings, now) == expected


def test_note_names_the_incident() -> None:
    """What `explain` and `status` show for a row held back."""
    assert inhibition.note(TG, T0) == (
        "held back: covered by monitor.provider_incident of together-prod since 09:00 UTC"
    )
