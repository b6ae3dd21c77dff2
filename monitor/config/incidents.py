"""`[incidents]`: when many jobs of one provider in trouble are one incident (`incidents`).

[incidents]
enabled = true          # false: every job is told on its own, always
min_jobs = 3            # distinct jobs in trouble within the window (2 to 1000)
window = "30m"          # at most 1d; a whole window without trouble ends the incident
hold = "3m"             # "0s" to "window": how long a burst's second message waits
"""

from __future__ import annotations

from datetime import timedelta

from monitor.config.fields import Table, show
from monitor.core.durations import format_duration
from monitor.core.settings import Incidents

INCIDENT_KEYS = ("enabled", "min_jobs", "window", "hold")
MAX_JOBS = 1000
MAX_WINDOW = timedelta(days=1)
_DEFAULT = Incidents()


def incidents(t: Table) -> Incidents:
    """The hold waits for a burst inside the window, so it cannot be longer."""
    d = _DEFAULT
    window = t.duration("window", d.window, at_most=MAX_WINDOW)
    hold = t.duration("hold", min(d.hold, window), zero_ok=True, at_most=MAX_WINDOW)
    if hold > window:
        limit, got = format_duration(window), show(format_duration(hold))
        raise t.error("hold", f"expected a duration no longer than window ({limit}), got {got}")
    return Incidents(
        enabled=t.flag("enabled", d.enabled),
        min_jobs=t.whole("min_jobs", d.min_jobs, low=2, high=MAX_JOBS),
        window=window,
        hold=hold,
    )
