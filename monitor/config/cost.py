"""`[cost]` and `[[budgets]]`: the ledger's time zone, the opt-in digest, the budgets.

[cost]
timezone = "UTC"        # where days and months begin (an IANA zone)
digest = false          # true: monitor.cost_digest once a day, for yesterday
digest_at = "08:00"     # local time after which yesterday's digest goes out

[[budgets]]
name = "together-daily" # unique; default: the providers and the period
providers = []          # names of [[providers]] tables; empty: all of them
period = "day"          # day | month
warning = 40.0          # USD of net spend in the period; at least one of the two
failure = 80.0          # above warning when both are given
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import time

from monitor.config.checks import is_time_zone, references
from monitor.config.fields import Table, show
from monitor.core.settings import Budget, CostSettings, Period

COST_KEYS = ("timezone", "digest", "digest_at")
BUDGET_KEYS = ("name", "providers", "period", "warning", "failure")
_DEFAULT = CostSettings()
_CLOCK = re.compile(r"(\d{2}):(\d{2})")


def cost(top: Table, providers: Sequence[str]) -> CostSettings:
    t = top.table("cost", COST_KEYS)
    zone = t.text("timezone", _DEFAULT.timezone)
    if not is_time_zone(zone):
        raise t.error(
            "timezone", f'expected an IANA time zone like "Europe/Berlin", got {show(zone)}'
        )
    digest = t.raw.get("digest", _DEFAULT.digest)
    if not isinstance(digest, bool):
        raise t.error("digest", f"expected true or false, got {show(digest)}")
    seen: set[str] = set()
    return CostSettings(
        timezone=zone,
        digest=digest,
        digest_at=_clock(t, "digest_at", _DEFAULT.digest_at),
        budgets=tuple(_budget(b, providers, seen) for b in top.tables("budgets", BUDGET_KEYS)),
    )


def _clock(t: Table, key: str, default: time) -> time:
    text = t.text(key, default.strftime("%H:%M"))
    match = _CLOCK.fullmatch(text)
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise t.error(key, f'expected a time of day "HH:MM" from 00:00 to 23:59, got {show(text)}')
    return time(int(match.group(1)), int(match.group(2)))


def _budget(t: Table, providers: Sequence[str], seen: set[str]) -> Budget:
    scope = references(t, "providers", providers)
    period = t.choice("period", Period)
    warning, failure = _usd(t, "warning"), _usd(t, "failure")
    if warning is None and failure is None:
        raise t.error("warning", "expected a warning or a failure threshold (USD), or both")
    if warning is not None and failure is not None and failure <= warning:
        raise t.error("failure", f"expected more than warning ({warning:g}), got {failure:g}")
    name = t.text("name", f"{'+'.join(scope) or 'all'}-{period}")
    if not name or any(c.isspace() for c in name):
        raise t.error(
            "name", f'expected a name without spaces like "together-daily", got {show(name)}'
        )
    if name in seen:
        raise t.error("name", f"expected a unique budget name, got {show(name)} again")
    seen.add(name)
    return Budget(name=name, period=period, providers=scope, warning=warning, failure=failure)


def _usd(t: Table, key: str) -> float | None:
    if not t.given(key):
        return None
    return t.number(key, 0.0, above=0.0)
