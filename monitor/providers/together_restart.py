"""Together restart and refund lines, read by their words when their type is not one we know.

The exact wording of `JOB_RESTARTED` and `REFUND` lines is not documented
(provider-apis.md 1.5): the types are matched first (`together.KINDS`); a line of another
type is a restart when it says "restart" and names a new `ft-` job id, and a refund when
it says "refund". A restart line names the job that replaced this one by its `ft-` id.
"""

from __future__ import annotations

import re

from monitor.core.model import EventKind

NEW_JOB_ID = re.compile(r"ft-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_RESTARTED = re.compile(r"restart", re.I)
_REFUND = re.compile(r"refund", re.I)


def restart_kind(message: str) -> EventKind:
    """The kind of a line whose type is unknown: restart, refund, or a plain message."""
    if _RESTARTED.search(message) and NEW_JOB_ID.search(message):
        return EventKind.RESTARTED
    if _REFUND.search(message):
        return EventKind.REFUNDED
    return EventKind.MESSAGE


def named_job(message: str, own_id: str | None) -> str | None:
    """The other job a restart line names (the line may name the job itself too)."""
    return next((m for m in NEW_JOB_ID.findall(message) if m != own_id), None)
