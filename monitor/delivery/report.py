"""What a delivery pass tells: its counts, and the fields that name an alert in its logs.

Both the pipeline's gates (`dispatch`) and its last stage (`send`) fill one report and log
alerts the same way, so these live apart from either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from monitor.core.alerts import Alert


@dataclass(slots=True)
class DeliveryReport:
    """What one pass did; `next_due` is when something waiting may become sendable."""

    routed: int = 0
    unmatched: int = 0
    held: int = 0
    inhibited: int = 0  # covered by a provider incident (`inhibition`)
    waiting: int = 0
    rate_limited: int = 0
    messages: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    given_up: int = 0
    disabled: list[str] = field(default_factory=list)
    next_due: datetime | None = None

    def wake_at(self, at: datetime | None) -> None:
        if at is not None and (self.next_due is None or at < self.next_due):
            self.next_due = at

    def add(self, part: DeliveryReport) -> None:
        """Count a later pass in: what it did adds up, what waits is the latest pass's."""
        added = ("routed", "unmatched", "held", "inhibited", "messages", "delivered", "retrying")
        for name in (*added, "failed"):
            setattr(self, name, getattr(self, name) + getattr(part, name))
        self.given_up, self.disabled = self.given_up + part.given_up, self.disabled + part.disabled
        self.waiting, self.rate_limited = part.waiting, part.rate_limited


def about(alert: Alert) -> dict[str, str | None]:
    """The log fields that name an alert: its kind, provider and job."""
    return {"kind": str(alert.kind), "provider": alert.provider, "job": alert.job_id}
