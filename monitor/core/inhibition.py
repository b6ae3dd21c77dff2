"""Inhibition: while a provider incident fires, the per-job messages it covers are held
back (Alertmanager's inhibit rules: the incident is the source, `incidents.trouble_of`
says which alerts are targets, and the provider must be equal).

Rules of this module, one delivery row at a time:
- never covered: an alert that tells of no provider-side trouble (user-caused failures:
  billing, bad data, a W&B key; successes; anything about ftmon itself) always goes;
- inhibited: the provider's incident fires, the row entered the outbox no earlier than
  one `window` before it began (its trouble is the incident's evidence), and the
  incident's firing message was routed to the row's channel (a channel the incident
  never reaches keeps its per-job messages). The row is closed as `inhibited`, for good;
  `explain` and `status` still show it;
- the burst edge (Alertmanager's group_wait): the first jobs of a burst fail before the
  incident exists. A covered row waits `hold` after it entered the outbox when another
  job of the provider already had trouble within `window` (a burst may be starting); then
  it is inhibited if the incident came, else sent. The first trouble of a quiet provider
  is never held: a lone failure is told at once, and a burst costs at most that one
  message before the incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.core.deliveries import Decision, Delivery, Reason
from monitor.core.incidents import trouble_of
from monitor.core.memory import Trouble
from monitor.core.settings import Incidents


@dataclass(frozen=True, slots=True, kw_only=True)
class Cover:
    """One provider's incident as the dispatcher reads it from the store."""

    since: datetime | None  # the incident fires since then; None: no incident now
    channels: frozenset[str] = frozenset()  # where its firing message was routed
    troubles: tuple[Trouble, ...] = ()  # the provider's recent trouble (`incidents`)


def decide(delivery: Delivery, cover: Cover | None, settings: Incidents, now: datetime) -> Decision:
    """Send, hold back for good (`inhibited`), or wait for a burst to show (`until`)."""
    alert = delivery.alert
    if not settings.enabled or cover is None or trouble_of(alert) is None:
        return Decision(go=True, reason=Reason.NOT_COVERED)
    since = cover.since
    if (
        since is not None
        and delivery.created_at >= since - settings.window
        and delivery.channel in cover.channels
    ):
        return Decision(go=False, reason=Reason.INHIBITED)
    release = delivery.created_at + settings.hold
    if since is None and now < release and _burst(cover.troubles, delivery, settings):
        return Decision(go=False, reason=Reason.INCIDENT_WAIT, until=release)
    return Decision(go=True, reason=Reason.NOT_COVERED)


def note(provider: str, since: datetime) -> str:
    """What an inhibited row says in `explain` and `status`."""
    began = since.astimezone(UTC)
    return f"held back: covered by monitor.provider_incident of {provider} since {began:%H:%M} UTC"


def _burst(troubles: tuple[Trouble, ...], delivery: Delivery, settings: Incidents) -> bool:
    """Another job of the provider had trouble within `window` before this row."""
    job, created = delivery.alert.job_id, delivery.created_at
    return any(t.job_id != job and created - settings.window < t.at <= created for t in troubles)
