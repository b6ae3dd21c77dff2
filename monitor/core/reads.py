"""What one poll reads of one listed job beyond its list entry (pure).

`plan` answers each question alone (is the log due, are the losses due, does the list
lack something a retrieve would bring); this puts the answers together for one job.
Where a retrieve carries the log (`retrieve_has_log`), a due log read is made as a
retrieve, so the same one request also brings what the list lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.core import job_conditions, plan
from monitor.core.memory import JobState
from monitor.core.model import JobSnapshot
from monitor.core.settings import Thresholds


@dataclass(frozen=True, slots=True)
class Reads:
    """What one poll reads of one listed job beyond its list entry."""

    log: bool
    losses: bool
    retrieve: bool

    @property
    def any(self) -> bool:
        return self.log or self.losses or self.retrieve


def job_reads(
    snapshot: JobSnapshot,
    state: JobState | None,
    now: datetime,
    thresholds: Thresholds,
    *,
    baseline: bool,
) -> Reads:
    """The plan's verdicts for one job. Where a retrieve carries the log, a due log read is
    made as a retrieve: the same one request also brings what the list lacks."""
    traits = snapshot.traits
    log_due = not snapshot.events and bool(
        plan.log_reason(snapshot, state, now, thresholds, baseline=baseline)
    )
    stall_due = job_conditions.queue_alert_due(state, snapshot, now, thresholds)
    retrieve = plan.retrieve_reason(snapshot, state, now, stall_alert_due=stall_due) is not None
    if log_due and traits.retrieve_has_log and traits.list_lacks_progress:
        retrieve = True
    return Reads(log=log_due, losses=plan.losses_due(snapshot, state, now), retrieve=retrieve)
