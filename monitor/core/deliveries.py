"""The vocabulary of delivery decisions: why (`Reason`), what (`Decision`), and the
outbox rows they are about (`Delivery`, `Batch`), shared by `routes` and `policy`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from monitor.core.alerts import Alert
from monitor.core.settings import QuietHours, RouteConfig


class Reason(StrEnum):
    """Why the dispatcher did or did not act; the words used in logs and `ftmon status`."""

    ROUTED, NO_ROUTE = "routed", "no_route"
    KIND_NOT_ROUTED, PROVIDER_NOT_ROUTED = "kind_not_routed", "provider_not_routed"
    JOB_NOT_ROUTED = "job_not_routed"  # the route's job matchers do not take the alert's job
    BELOW_MIN_SEVERITY = "below_min_severity"
    QUIET_HOURS, OUTSIDE_QUIET_HOURS = "quiet_hours", "outside_quiet_hours"
    FAILURE_BYPASSES_QUIET_HOURS = "failure_bypasses_quiet_hours"
    SEND, ALREADY_SENT, CHANNEL_DISABLED = "send", "already_sent", "channel_disabled"
    GROUP_READY, GROUP_WAIT = "group_ready", "group_wait"
    WITHIN_RATE, RATE_LIMITED = "within_rate", "rate_limited"
    GIVE_UP, KEEP_TRYING = "give_up", "keep_trying"
    INHIBITED, INCIDENT_WAIT = "inhibited", "incident_wait"  # a provider incident (`inhibition`)
    NOT_COVERED = "not_covered"


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A yes/no with its reason and, for a no that passes with time, when to look again."""

    go: bool
    reason: Reason
    until: datetime | None = None


class DeliveryStatus(StrEnum):
    PENDING, HELD, SENT = "pending", "held", "sent"
    FAILED, GIVEN_UP = "failed", "given_up"
    INHIBITED = "inhibited"  # covered by a provider incident: held back for good


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One (alert, channel) row of the outbox, as the dispatcher reads it."""

    alert_id: int
    channel: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime  # when the alert entered the outbox
    alert: Alert
    route: RoutedBy | None = None  # None: routed by an older ftmon, or by test-notify


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutedBy:
    """The route that sent an alert to a channel, as it was when the alert was routed: it
    is stored on the delivery row, so its grouping and quiet hours keep applying to that
    row after a reload changes the routes, and no row is matched against routes again."""

    index: int
    group_wait: timedelta
    quiet_hours: QuietHours | None = None

    @classmethod
    def of(cls, index: int, route: RouteConfig) -> RoutedBy:
        return cls(index=index, group_wait=route.group_wait, quiet_hours=route.quiet_hours)


@dataclass(frozen=True, slots=True)
class Batch:
    """One message to one channel; `note` says why unrelated alerts share it."""

    channel: str
    members: tuple[Delivery, ...]
    note: str | None = None


QUIET_HOURS_NOTE = "Held during quiet hours"
COMBINED_NOTE = (
    "Combined into one message: more alerts were due than this channel's rate limit allows"
)
