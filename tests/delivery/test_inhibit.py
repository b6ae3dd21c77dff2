"""The dispatcher's inhibition stage on both backends, with real receivers: a burst's
first failure is told, the next waits its hold, and once the incident fires the rows it
covers are closed as `inhibited` (logged with the reason, kept in the outbox), while a
user-caused failure and a channel the incident never reaches still get theirs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from structlog.testing import capture_logs

from monitor.core import incidents
from monitor.core.alerts import Alert, Cause, Kind
from monitor.core.deliveries import DeliveryStatus
from monitor.core.memory import ProviderHealth
from monitor.core.samples import sample_alert
from monitor.core.settings import Incidents, RouteConfig
from monitor.delivery.channels import AppriseChannel
from monitor.storage.base import Store
from tests.delivery.kit import T0, Clock, hook_channel, labels, make_dispatcher, ok_bodies
from tests.receivers import HttpReceiver

TG = "together-prod"
SETTINGS = Incidents(min_jobs=3, window=timedelta(minutes=30), hold=timedelta(minutes=3))
HOLD = SETTINGS.hold


def failure(job: str, now: datetime, cause: Cause = Cause.PROVIDER_ERROR) -> Alert:
    """A job's failure as the diff raises it, with the given cause."""
    alert = sample_alert(Kind.FAILED, now, job)
    return replace(alert, job_id=job, cause=cause, dedup_key=f"{TG}/{job}/failed")


def poll(
    store: Store, health: ProviderHealth, alerts: Sequence[Alert], now: datetime
) -> ProviderHealth:
    """What a poll commits: the per-job alerts, the incident step over them, the health."""
    found = incidents.evidence(alerts, (), (), now)
    health, told = incidents.step(health, TG, found, now, SETTINGS, timedelta(hours=4))
    store.lead(TG, timedelta(minutes=5))
    store.commit_poll(TG, [], health, [*told, *alerts], now)
    return health


def status_of(store: Store, alert: Alert) -> dict[str, tuple[DeliveryStatus, str | None]]:
    alert_id = store.outbox.alert_id(alert.dedup_key)
    assert alert_id is not None
    return store.outbox.delivery_states(alert_id)


async def test_a_burst_is_told_once_and_what_it_covers_is_kept(
    store: Store, clock: Clock, http_receiver: HttpReceiver
) -> None:
    """Lone failure sent; second held for `hold`; at the incident, held and later rows are
    inhibited, the user's own failure and the incident are sent."""
    dispatcher = make_dispatcher(store, hook_channel(http_receiver), clock, incidents=SETTINGS)
    a, b = failure("ft-a", T0), failure("ft-b", T0 + timedelta(minutes=1))
    health = poll(store, ProviderHealth(), [a], clock())
    assert (await dispatcher.run_once()).delivered == 1

    clock.advance(minutes=1)
    health = poll(store, health, [b], clock())
    report = await dispatcher.run_once()
    assert (report.delivered, report.waiting, report.next_due) == (0, 1, clock() + HOLD)

    clock.advance(minutes=1)
    c, users = failure("ft-c", clock()), failure("ft-u", clock(), Cause.DATA_VALIDATION)
    poll(store, health, [c, users], clock())
    with capture_logs() as logs:
        report = await dispatcher.run_once()
    assert (report.inhibited, report.delivered) == (2, 2)
    told = labels(ok_bodies(http_receiver))
    assert told[0] == a.label_line()
    assert sorted(told[1:]) == sorted([
        f"kind=monitor.provider_incident severity=failure provider={TG} state=firing",
        users.label_line(),
    ])  # fmt: skip
    (line,) = [e for e in logs if e["event"] == "delivery_inhibited"]
    assert (line["reason"], line["jobs"], line["channels"]) == (
        "inhibited",
        ["ft-b", "ft-c"],
        ["hook"],
    )
    for held in (b, c):
        ((status, note),) = status_of(store, held).values()
        assert status is DeliveryStatus.INHIBITED
        assert note is not None and note.startswith(
            "held back: covered by monitor.provider_incident"
        )
    summary = store.outbox.pending_summary()
    assert summary.totals.get("inhibited") == 2 and "hook" not in summary.last_errors

    clock.advance(hours=1)  # nothing held is ever sent later
    assert (await dispatcher.run_once()).delivered == 0
    assert len(http_receiver.requests) == 3


async def test_a_channel_the_incident_never_reaches_keeps_its_messages(
    store: Store, clock: Clock, http_receiver: HttpReceiver
) -> None:
    """`team` takes job alerts only: no incident reaches it, so it gets each failure;
    `ops` takes everything and gets the incident alone."""
    url = f"json://127.0.0.1:{http_receiver.port}"
    channels = {name: AppriseChannel(name, f"{url}/{name}") for name in ("ops", "team")}
    routes = (
        RouteConfig(channels=("ops",), group_wait=timedelta(0)),
        RouteConfig(channels=("team",), kinds=("job.*",), group_wait=timedelta(0)),
    )
    dispatcher = make_dispatcher(store, channels, clock, routes=routes, incidents=SETTINGS)
    burst = [failure(f"ft-{n}", T0) for n in range(3)]
    poll(store, ProviderHealth(), burst, clock())
    report = await dispatcher.run_once()
    assert report.inhibited == 3
    by_path: dict[str, list[str]] = {}
    for request in http_receiver.requests:
        by_path.setdefault(request.path, []).extend(labels([request.json()["message"]]))
    assert sorted(by_path["/team"]) == sorted(a.label_line() for a in burst)
    assert by_path["/ops"] == [
        f"kind=monitor.provider_incident severity=failure provider={TG} state=firing"
    ]
