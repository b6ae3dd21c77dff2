"""After a poll: the budgets and the daily digest, judged on the ledger the poll just wrote.

Run at the end of every successful poll (the daemon's and `run --once`'s alike), so a
budget is judged as soon as a price moves and `--once` from cron judges it too. The
core decides (`budgets.evaluate`); the store enqueues each alert with its marks in one
transaction, so whichever process or replica gets there first tells it, once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import structlog

from monitor.app.poll_guard import redacted
from monitor.core import budgets
from monitor.core.alerts import Alert
from monitor.core.settings import CostSettings
from monitor.storage.base import Store

log = structlog.get_logger("ftmon.costs")


def cost_alerts(store: Store, cost: CostSettings, now: datetime) -> list[Alert]:
    """The budget and digest alerts due now and not yet told; nothing when none is set."""
    if not cost.budgets and not cost.digest:
        return []
    entries = store.ledger(budgets.earliest_needed(cost, now))
    due = budgets.evaluate(cost, entries, now)
    if not due:
        return []
    told = store.enqueue_marked([replace(m, alert=redacted(m.alert)) for m in due], now)
    for alert in told:
        log.info("cost_alert", kind=str(alert.kind), severity=str(alert.severity), **alert.facts)
    return told
