"""`ftmon cost [--since 7d] [--by provider|model|day] [--json]`: the ledger, as a table.

It only reads the state, like `ftmon status` (a SQLite file is opened read-only; a path
with nothing there is a configuration error naming it, exit 78), on SQLite and PostgreSQL
alike. The money is counted by `core.ledger` (its docstring says how: prices as stated,
refunds never taken off twice, a restart chain one piece of work, "price not given" where
the provider states none); days are those of `[cost] timezone`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.commands.status import open_read_only
from monitor.core.durations import format_duration
from monitor.core.ledger import NOT_PRICED, Line, Report, summarize
from monitor.core.redact import REDACTOR
from monitor.core.settings import Config
from monitor.core.text import one_line

HEADERS = ("work", "jobs", "charged", "refunded", "net", NOT_PRICED, "trained tokens")
NOTE = (
    "Amounts in USD as the providers state them, for the jobs submitted in the period; "
    "a restart chain is one piece of work (work), its refunded job netting to what the "
    "provider kept."
)


def report(config: Config, now: datetime, *, since: timedelta, by: str, as_json: bool) -> str:
    store = open_read_only(config)
    try:
        start = now - since
        entries = store.ledger(start)
    finally:
        store.close()
    zone = ZoneInfo(config.cost.timezone)
    result = summarize(entries, since=start, by=by, tz=zone)
    if as_json:
        return REDACTOR(json.dumps(as_dict(result, start, now, by), indent=2))
    return REDACTOR(render(result, start, since, by, zone))


def as_dict(result: Report, start: datetime, now: datetime, by: str) -> dict[str, object]:
    return {
        "since": start.isoformat(),
        "until": now.isoformat(),
        "by": by,
        "lines": [line.to_dict() for line in result.lines],
        "total": result.total.to_dict(),
    }


def render(result: Report, start: datetime, since: timedelta, by: str, zone: ZoneInfo) -> str:
    title = (
        f"Cost of the jobs submitted since {start.astimezone(zone):%Y-%m-%d %H:%M} "
        f"{zone.key} (last {format_duration(since)}), by {by}"
    )
    if not result.lines:
        return f"{title}\nNo job in the ledger for this period.\n"
    rows = [_cells(line) for line in (*result.lines, result.total)]
    widths = [max(len(r[i]) for r in [(by, *HEADERS), *rows]) for i in range(len(HEADERS) + 1)]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest)).rstrip()

    table = [line((by, *HEADERS)), *(line(r) for r in rows[:-1])]
    table += ["-" * len(table[0]), line(rows[-1])]
    notes = [NOTE]
    if result.total.refund_unstated:
        notes.append(f"{result.total.refund_unstated} refund(s) without an amount (not counted).")
    return "\n".join([title, "", *table, "", *notes]) + "\n"


def _cells(line: Line) -> tuple[str, ...]:
    money = (
        (f"{line.charged:,.2f}", f"{line.refunded:,.2f}", f"{line.net:,.2f}")
        if line.priced
        else ("-", "-", "-")
    )
    tokens = f"{line.trained_tokens:,}" if line.trained_tokens else "-"
    return (one_line(line.key)[:60], str(line.work), str(line.jobs), *money,
            str(line.unpriced), tokens)  # fmt: skip
