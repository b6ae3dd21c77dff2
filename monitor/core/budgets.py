"""`monitor.budget` and `monitor.cost_digest`: the ledger judged against the config.

A budget's period is the day or the month (in `[cost] timezone`) the clock stands in; its
spend is the net (charges less refunds, `ledger.amounts`) of the jobs submitted in it.
Each threshold is told once per budget and period: the `Marked` alert carries the marks
the store records with it, atomically, so a re-poll, a restart or another replica never
tells it again. Crossing the failure threshold marks the warning too, so a spend that
jumps past both is one failure, not a late warning after it. Budgets never resolve: a
period's spend does not undo itself, and the next period starts with fresh marks.

The digest tells yesterday (the day before the clock's, in the same time zone) once, at
the first poll after `digest_at`; the same mark keeps it once per day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.core.alerts import KIND_HINTS, Alert, Kind, Severity
from monitor.core.ledger import NOT_PRICED, Entry, Line, Report, summarize, usd
from monitor.core.settings import Budget, CostSettings, Period

ABOUT_ALL = "ftmon"  # the `provider=` of an alert about more than one provider


@dataclass(frozen=True, slots=True, kw_only=True)
class Marked:
    """An alert to enqueue only if its first mark is new; every mark is recorded with it."""

    marks: tuple[str, ...]
    alert: Alert


def period_start(period: Period, now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    day = local.date() if period is Period.DAY else local.date().replace(day=1)
    return datetime.combine(day, datetime.min.time(), zone)


def period_name(period: Period, start: datetime) -> str:
    return start.date().isoformat() if period is Period.DAY else f"{start:%Y-%m}"


def earliest_needed(cost: CostSettings, now: datetime) -> datetime:
    """The oldest submission the budgets and the digest look at (the ledger read)."""
    zone = ZoneInfo(cost.timezone)
    starts = [period_start(b.period, now, zone) for b in cost.budgets]
    starts.append(period_start(Period.DAY, now, zone) - timedelta(days=1))
    return min(starts)


def evaluate(cost: CostSettings, entries: Sequence[Entry], now: datetime) -> list[Marked]:
    """The budget alerts the spend so far calls for, and the digest when it is due."""
    zone = ZoneInfo(cost.timezone)
    out = [m for b in cost.budgets if (m := _judge(b, entries, now, zone)) is not None]
    if cost.digest:
        digest = _digest(cost, entries, now, zone)
        if digest is not None:
            out.append(digest)
    return out


def _judge(
    budget: Budget, entries: Sequence[Entry], now: datetime, zone: ZoneInfo
) -> Marked | None:
    start = period_start(budget.period, now, zone)
    report = summarize(entries, since=start, by="provider", tz=zone, providers=budget.providers)
    spent = report.total.net
    name = period_name(budget.period, start)
    mark = f"{Kind.BUDGET}:{budget.name}:{name}"
    for level, limit, severity in (
        ("failure", budget.failure, Severity.FAILURE),
        ("warning", budget.warning, Severity.WARNING),
    ):
        if limit is None or spent < limit:
            continue
        marks = (f"{mark}:{level}",) + ((f"{mark}:warning",) if level == "failure" else ())
        return Marked(marks=marks, alert=_budget_alert(budget, report.total, name, level,
                                                        limit, severity, now))  # fmt: skip
    return None


def _scope(providers: Sequence[str]) -> str:
    return ", ".join(providers) if providers else "all providers"


def _budget_alert(
    budget: Budget, spent: Line, name: str, level: str, limit: float, severity: Severity,
    now: datetime,
) -> Alert:  # fmt: skip
    other = budget.warning if level == "failure" else budget.failure
    also = f" (failure at {usd(other)})" if other is not None and level == "warning" else ""
    unpriced = f"; {spent.unpriced} job(s): {NOT_PRICED}" if spent.unpriced else ""
    return Alert(
        kind=Kind.BUDGET,
        severity=severity,
        provider=budget.providers[0] if len(budget.providers) == 1 else ABOUT_ALL,
        job_id=None,
        at=now,
        summary=(
            f"Budget {budget.name} ({_scope(budget.providers)}, per {budget.period}, {name}): "
            f"net spend {usd(spent.net)} reached the {level} threshold {usd(limit)}{also}. "
            f"{spent.work} piece(s) of work, charged {usd(spent.charged)}, refunded "
            f"{usd(spent.refunded)}{unpriced}."
        ),
        dedup_key=f"{Kind.BUDGET}:{budget.name}:{name}:{level}",
        hint=KIND_HINTS[Kind.BUDGET],
        facts={
            "budget": budget.name,
            "period": name,
            "level": level,
            "threshold_usd": limit,
            "spent_usd": round(spent.net, 2),
            "charged_usd": round(spent.charged, 2),
            "refunded_usd": round(spent.refunded, 2),
            "price_not_given": spent.unpriced,
        },
    )


def _digest(
    cost: CostSettings, entries: Sequence[Entry], now: datetime, zone: ZoneInfo
) -> Marked | None:
    local = now.astimezone(zone)
    if local.time() < cost.digest_at:
        return None
    today = period_start(Period.DAY, now, zone)
    day = (today - timedelta(days=1)).date()
    since = datetime.combine(day, datetime.min.time(), zone)
    report = summarize(entries, since=since, until=today, by="provider", tz=zone)
    models = summarize(entries, since=since, until=today, by="model", tz=zone)
    alert = digest_alert(day, cost.timezone, report, models, now)
    return Marked(marks=(f"{Kind.COST_DIGEST}:{day.isoformat()}",), alert=alert)


def digest_alert(day: date, zone: str, report: Report, models: Report, now: datetime) -> Alert:
    """Yesterday's spend, refunds, the providers and models it went to, unpriced jobs."""
    total = report.total
    unpriced = f"; {total.unpriced} job(s): {NOT_PRICED}" if total.unpriced else ""
    lines = [f"{line.key}: {_money(line)}" for line in report.lines]
    lines += [f"model {line.key}: {_money(line)}" for line in models.lines]
    return Alert(
        kind=Kind.COST_DIGEST,
        severity=Severity.INFO,
        provider=ABOUT_ALL,
        job_id=None,
        at=now,
        summary=(
            f"Cost on {day.isoformat()} ({zone}): net {usd(total.net)} for {total.work} "
            f"piece(s) of work ({total.jobs} job(s)), charged {usd(total.charged)}, "
            f"refunded {usd(total.refunded)}{unpriced}."
        ),
        dedup_key=f"{Kind.COST_DIGEST}:{day.isoformat()}",
        hint=KIND_HINTS[Kind.COST_DIGEST],
        detail="; ".join(lines) if lines else "No job was submitted that day.",
        facts={
            "day": day.isoformat(),
            "net_usd": round(total.net, 2),
            "charged_usd": round(total.charged, 2),
            "refunded_usd": round(total.refunded, 2),
            "jobs": total.jobs,
            "price_not_given": total.unpriced,
        },
    )


def _money(line: Line) -> str:
    """A line whose jobs state no price says so, with no amount (none was given)."""
    if not line.priced:
        text = f"{line.jobs} job(s), {NOT_PRICED}"
    else:
        text = f"net {usd(line.net)} ({line.jobs} job(s), refunded {usd(line.refunded)})"
    if line.unpriced and line.priced:
        text += f", {line.unpriced} {NOT_PRICED}"
    if line.trained_tokens:
        text += f", {line.trained_tokens:,} trained tokens"
    return text
