"""Budgets and the digest, judged on ledger entries: the threshold each spend reaches, the
marks that keep each one told once per period, periods in the configured time zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from monitor.core import budgets
from monitor.core.alerts import Kind, Severity
from monitor.core.ledger import Entry
from monitor.core.memory import Refund
from monitor.core.settings import Budget, CostSettings, Period

NOW = datetime(2026, 11, 4, 15, 0, tzinfo=UTC)
DAILY = Budget(name="tg-daily", period=Period.DAY, providers=("together-prod",),
               warning=20.0, failure=50.0)  # fmt: skip


def spend(usd: float, *, hours_ago: float = 1, provider: str = "together-prod",
          job_id: str = "ft-a", refund: float | None = None) -> Entry:  # fmt: skip
    refunds = () if refund is None else (Refund(key="r", amount_usd=refund, at=NOW),)
    return Entry(provider=provider, job_id=job_id, provider_kind="together",
                 created_at=NOW - timedelta(hours=hours_ago), status="succeeded",
                 price_usd=usd, refunds=refunds)  # fmt: skip


def judged(entries: list[Entry], *, cost: CostSettings | None = None) -> list[budgets.Marked]:
    return budgets.evaluate(cost or CostSettings(budgets=(DAILY,)), entries, NOW)


def test_below_the_warning_nothing() -> None:
    assert judged([spend(19.99)]) == []


def test_the_warning_names_the_amounts_and_is_marked_for_the_day() -> None:
    (marked,) = judged([spend(12.0), spend(9.5, job_id="ft-b")])
    alert = marked.alert
    assert (alert.kind, alert.severity, alert.provider) == (
        Kind.BUDGET, Severity.WARNING, "together-prod"
    )  # fmt: skip
    assert marked.marks == ("monitor.budget:tg-daily:2026-11-04:warning",)
    assert "net spend $21.50 reached the warning threshold $20.00 (failure at $50.00)" in (
        alert.summary
    )
    assert alert.label_line() == "kind=monitor.budget severity=warning provider=together-prod"


def test_past_both_thresholds_at_once_one_failure_that_marks_the_warning_too() -> None:
    (marked,) = judged([spend(60.0)])
    assert marked.alert.severity is Severity.FAILURE
    assert marked.marks == (
        "monitor.budget:tg-daily:2026-11-04:failure",
        "monitor.budget:tg-daily:2026-11-04:warning",
    )


def test_refunds_net_out_other_providers_and_earlier_days_do_not_count() -> None:
    entries = [
        spend(30.0, refund=30.0),  # refunded in full
        spend(25.0, provider="openai-prod", job_id="ftjob-x"),  # not this budget's
        spend(40.0, hours_ago=20, job_id="ft-yesterday"),  # 19:00 the day before
        spend(19.0, job_id="ft-c"),
    ]
    assert judged(entries) == []
    every = Budget(name="all", period=Period.DAY, warning=40.0)
    (marked,) = judged(entries, cost=CostSettings(budgets=(every,)))
    assert marked.alert.provider == "ftmon" and "all providers" in marked.alert.summary
    assert marked.alert.facts["spent_usd"] == 44.0


def test_month_and_day_begin_in_the_configured_time_zone() -> None:
    month = Budget(name="monthly", period=Period.MONTH, failure=100.0)
    berlin = CostSettings(timezone="Europe/Berlin", budgets=(month,))
    late = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)  # already November in Berlin
    entries = [spend(120.0, hours_ago=(NOW - late).total_seconds() / 3600)]
    (marked,) = budgets.evaluate(berlin, entries, NOW)
    assert marked.marks[0] == "monitor.budget:monthly:2026-11:failure"
    assert budgets.evaluate(CostSettings(budgets=(month,)), entries, NOW) == []  # October in UTC


def test_the_digest_tells_yesterday_after_its_hour_once_per_day() -> None:
    cost = CostSettings(digest=True, digest_at=time(16, 0))
    yesterday = [spend(8.0, hours_ago=20), spend(0.0, hours_ago=21, refund=4.0, job_id="ft-r"),
                 spend(3.0, hours_ago=2, job_id="ft-today")]  # fmt: skip
    assert budgets.evaluate(cost, yesterday, NOW) == []  # 15:00: not yet
    (marked,) = budgets.evaluate(cost, yesterday, NOW + timedelta(hours=1))
    alert = marked.alert
    assert marked.marks == ("monitor.cost_digest:2026-11-03",)
    assert (alert.kind, alert.severity, alert.provider) == (
        Kind.COST_DIGEST,
        Severity.INFO,
        "ftmon",
    )
    assert alert.summary.startswith(
        "Cost on 2026-11-03 (UTC): net $8.00 for 2 piece(s) of work (2 job(s)), charged "
        "$12.00, refunded $4.00."
    )
    assert alert.detail is not None and "together-prod: net $8.00" in alert.detail
    assert budgets.evaluate(CostSettings(), yesterday, NOW + timedelta(hours=1)) == []  # opt-in


def test_the_digest_states_no_amount_for_jobs_without_a_price() -> None:
    """A provider whose jobs state no price gets "price not given", never a guessed
    "net $0.00"; the lines are separated so a channel that flattens them still reads."""
    unpriced = replace(spend(0.0, hours_ago=20, provider="openai-prod", job_id="ftjob-a"),
                       provider_kind="openai", price_usd=None, trained_tokens=1200)  # fmt: skip
    cost = CostSettings(digest=True, digest_at=time(8, 0))
    (marked,) = budgets.evaluate(cost, [spend(8.0, hours_ago=20), unpriced], NOW)
    detail = marked.alert.detail or ""
    assert "openai-prod: 1 job(s), price not given, 1,200 trained tokens" in detail
    assert "openai-prod: net" not in detail
    assert "trained tokens; together-prod: net $8.00 (1 job(s), refunded $0.00); model" in detail
