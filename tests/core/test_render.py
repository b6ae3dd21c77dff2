"""The message contract: titles, label lines last in every format, length budgets."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.alerts import Alert, Cause, ConditionState, Kind, Severity
from monitor.core.render import BodyFormat, render, title_for
from monitor.core.samples import sample_alert

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FORMATS: list[BodyFormat] = ["text", "markdown", "html"]


def _cancel(nonce: str = "abc") -> Alert:
    link = f"https://api.together.ai/fine-tuning/ft-test-{nonce}"
    return replace(sample_alert(Kind.CANCELLED, T0, nonce), link=link)


def _last_lines(body: str, fmt: BodyFormat, n: int) -> list[str]:
    """The last n lines as a person or a machine reads them (HTML: one <div> per line)."""
    lines = body.splitlines()[-n:]
    if fmt == "markdown":
        return [line.strip("`") for line in lines]
    if fmt == "html":
        return [re.sub(r"<[^>]+>", "", line) for line in lines]
    return lines


@pytest.mark.parametrize(
    ("alerts", "title"),
    [
        # one job: provider, job id, what happened, why
        ([_cancel()], "together-prod: ft-test-abc cancelled — billing limit reached"),
        # a storm of the same cause: counted jobs
        ([_cancel(f"{i}") for i in range(40)],
         "together-prod: 40 jobs cancelled — billing limit reached"),
        # a condition that cleared
        ([replace(sample_alert(Kind.QUEUE_STALLED, T0, "q"), state=ConditionState.RESOLVED)],
         "openai-prod: ftjob-testq no longer stuck in the queue"),
        ([replace(sample_alert(Kind.PROVIDER_DOWN, T0, "d"), state=ConditionState.RESOLVED)],
         "together-prod: API unreachable — resolved"),
        # a restart names the new job
        ([sample_alert(Kind.RESTARTED, T0, "r")],
         "together-prod: ft-test-r restarted as ft-test-r-new — provider-side error"),
        # a digest of mixed kinds from one provider
        ([sample_alert(Kind.STARTED, T0, "a"), sample_alert(Kind.REFUNDED, T0, "b")],
         "together-prod: 2 alerts — 1 started, 1 refunded"),
    ],
)  # fmt: skip
def test_titles(alerts: list[Alert], title: str) -> None:
    assert title_for(alerts) == title


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_alert_body_has_everything_and_ends_with_its_label_line(fmt: BodyFormat) -> None:
    alert = replace(_cancel(), facts={"refund_usd": 12.5})
    message = render([alert], fmt, 32_768, 250)
    assert message.notify_type == "failure" and message.fits
    assert _last_lines(message.body, fmt, 1) == [alert.label_line()]
    for part in ("billing limit reached", "Add funds", "Meta-Llama-3.1-8B", "$12.50",
                 "cancelled 11:59:31 (+43m19s)", "billing_limit: Job cancelled",
                 "https://api.together.ai/fine-tuning/ft-test-abc"):  # fmt: skip
        assert part in message.body, part


@pytest.mark.parametrize("fmt", FORMATS)
def test_group_ends_with_one_label_line_per_alert(fmt: BodyFormat) -> None:
    alerts = [_cancel(f"{i:02d}") for i in range(40)]
    message = render(alerts, fmt, 32_768, 250)
    assert _last_lines(message.body, fmt, 40) == [a.label_line() for a in alerts]
    assert message.body.count("Add funds") == 1  # a shared cause and hint are said once


@pytest.mark.parametrize("fmt", FORMATS)
def test_over_budget_drops_events_first_then_status_then_details(fmt: BodyFormat) -> None:
    alert = _cancel()
    full = render([alert], fmt, 32_768, 250).body
    fewer_events = render([alert], fmt, len(full) - 10, 250).body
    assert "job_start: Job started" not in fewer_events  # the oldest event went first
    assert "billing_limit: Job cancelled" in fewer_events
    assert "pending 2024-05-01" in fewer_events  # the status path is still whole
    no_events = len(full) - sum(len(e) + 12 for e in alert.recent_events) - 40
    trimmed = render([alert], fmt, no_events, 250).body
    assert "job_cancelled" not in trimmed and "Model" in trimmed
    for extra in (100, 20):  # a little room beyond the cause, hint and label line
        limit = len(alert.label_line()) + 340 + extra
        small = render([alert], fmt, limit, 250)
        assert len(small.body) <= limit and small.fits
        assert "billing limit reached (billing_limit)" in small.body
        assert "Add funds or raise the spending limit" in small.body
        assert _last_lines(small.body, fmt, 1) == [alert.label_line()]


@pytest.mark.parametrize("fmt", FORMATS)
def test_cause_hint_and_labels_survive_an_impossible_budget(fmt: BodyFormat) -> None:
    alert = _cancel()
    message = render([alert], fmt, 50, 250)
    assert not message.fits
    assert "Add funds" in message.body and alert.label_line() in message.body
    assert "Together cancelled" not in message.body  # the summary went


def test_the_summary_is_cut_last_and_only_as_much_as_needed() -> None:
    bare = {"recent_events": (), "status_path": (), "model": None, "provider_kind": None}
    alert = replace(_cancel(), summary="x" * 500, **bare)  # type: ignore[arg-type]
    full = render([alert], "text", 10_000, 250).body
    message = render([alert], "text", len(full) - 100, 250)
    assert message.fits and len(message.body) == len(full) - 100
    assert "x" * 300 in message.body and "…" in message.body


def test_a_service_without_titles_shares_the_body_budget() -> None:
    alert = _cancel()
    with_title = render([alert], "text", 600, 250)
    merged = render([alert], "text", 600, 0)
    assert len(merged.body) <= 600 - len(merged.title) - 32 < len(with_title.body)


def test_long_titles_are_cut_to_the_service_limit() -> None:
    message = render([_cancel()], "text", 1000, 30)
    assert len(message.title) == 30 and message.title.endswith("…")


def test_markdown_keeps_provider_text_literal_and_label_lines_verbatim() -> None:
    alert = replace(_cancel(), summary="*boom* <!channel> [x](http://e) _edge_ user_error # hi")
    body = render([alert], "markdown", 10_000, 250).body
    first = body.splitlines()[0]
    assert first == r"\*boom\* \<!channel\> \[x\](http://e) \_edge\_ user_error # hi"
    assert body.splitlines()[-1] == f"`{alert.label_line()}`"


def test_html_escapes_text_and_keeps_each_label_line_in_its_own_div() -> None:
    alerts = [replace(_cancel(f"{i}"), summary="<script>alert(1)</script>") for i in range(2)]
    body = render(alerts, "html", 10_000, 250).body
    assert "<script>" not in body
    assert body.splitlines()[-2:] == [
        f'<div><span style="font-family:monospace">{a.label_line()}</span></div>' for a in alerts
    ]


@pytest.mark.parametrize(
    ("severities", "notify_type"),
    [
        ([Severity.INFO], "info"),
        ([Severity.SUCCESS], "success"),
        ([Severity.WARNING, Severity.INFO], "warning"),
        ([Severity.INFO, Severity.FAILURE, Severity.SUCCESS], "failure"),
    ],
)
def test_notify_type_is_the_worst_severity(severities: list[Severity], notify_type: str) -> None:
    alerts = [replace(_cancel(f"{i}"), severity=s) for i, s in enumerate(severities)]
    assert render(alerts, "text", 10_000, 250).notify_type == notify_type


def test_condition_says_its_state_and_for_how_long() -> None:
    alert = sample_alert(Kind.PROGRESS_STALLED, T0, "p")
    body = render([alert], "text", 10_000, 250).body
    assert "State: firing for 1h12m (since 2024-05-01 10:48:00 UTC)" in body
    assert " state=firing" in body.splitlines()[-1]


def test_mixed_causes_in_one_message_keep_every_cause_and_hint() -> None:
    a = _cancel("a")
    b = replace(sample_alert(Kind.CANCELLED, T0, "b"), cause=Cause.WANDB_AUTH, hint="Re-issue W&B")
    body = render([a, b], "text", 10_000, 250).body
    assert "Cause (ft-test-a): billing limit reached" in body
    assert "Next step (ft-test-b): Re-issue W&B" in body


@given(
    fmt=st.sampled_from(FORMATS),
    n=st.integers(min_value=1, max_value=12),
    summary=st.text(max_size=400),
    events=st.lists(st.text(max_size=120), max_size=8),
    limit=st.integers(min_value=600, max_value=6000),
)
@settings(max_examples=150, deadline=None)
def test_contract_holds_for_any_text_and_budget(
    fmt: BodyFormat, n: int, summary: str, events: list[str], limit: int
) -> None:
    """Whatever the provider text and the budget: label lines last, one per alert, in
    order; cause and hint kept; within the budget whenever the message says it fits."""
    alerts = [
        replace(_cancel(f"{i}"), summary=summary, recent_events=tuple(events)) for i in range(n)
    ]
    message = render(alerts, fmt, limit, 250)
    assert _last_lines(message.body, fmt, n) == [a.label_line() for a in alerts]
    assert "billing limit reached (billing_limit)" in message.body
    assert "Add funds or raise the spending limit" in message.body
    assert message.fits == (len(message.body) <= limit)


SPLITTERS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"]
FORGED = "kind=job.succeeded severity=success provider=together-prod job=ft-forged"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "splitter", ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"]
)
def test_provider_text_cannot_plant_a_label_line(fmt: BodyFormat, splitter: str) -> None:
    """A model name, summary, event or job id carrying any line separator and a label-like
    text never yields a line of its own: the only `kind=` lines are the real label lines."""
    planted = f"x{splitter}{FORGED}{splitter}"
    alert = replace(
        _cancel(),
        summary=planted,
        model=planted,
        detail=planted,
        recent_events=(planted,),
        job_id=f"ft-{planted}",
    )
    message = render([alert], fmt, 20_000, 250)
    lines = [re.sub(r"<[^>]+>", "", line).strip("`") for line in message.body.splitlines()]
    assert [line for line in lines if "kind=" in line.split(" ", 1)[0]] == [alert.label_line()]
    assert len(alert.label_line().splitlines()) == 1
    assert len(message.title.splitlines()) == 1


def test_money_in_titles_has_cents_as_in_the_body() -> None:
    """A budget's spend and a digest's net are dollars and cents, as the body says them."""
    now = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
    budget = sample_alert(Kind.BUDGET, now, "m")
    budget = replace(budget, facts={**budget.facts, "spent_usd": 44.5, "threshold_usd": 40})
    digest = sample_alert(Kind.COST_DIGEST, now, "m")
    digest = replace(digest, facts={**digest.facts, "net_usd": 1234.0})
    assert "reached: $44.50 in 2026-11-04" in title_for([budget])
    assert "net $1,234.00" in title_for([digest])
    body = render([budget], "text", 4000, 250).body
    assert "Spent: $44.50" in body and "Threshold: $40.00" in body


def test_samples_name_their_own_provider_day_and_window() -> None:
    """`test-notify` samples agree with themselves: the budget names the provider its label
    line names, the incident's window facts are the times its summary says."""
    now = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
    budget = sample_alert(Kind.BUDGET, now, "b", provider="together-sim")
    assert "(together-sim, per day, 2026-11-04)" in budget.summary
    assert budget.facts["period"] == "2026-11-04"
    incident = sample_alert(Kind.PROVIDER_INCIDENT, now, "i")
    start, end = (
        datetime.fromisoformat(str(incident.facts[k])) for k in ("window_start", "window_end")
    )
    assert f"within 30m (seen {start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC)" in incident.summary
    assert timedelta(0) < end - start <= timedelta(minutes=30)
    digest = sample_alert(Kind.COST_DIGEST, now, "d")
    assert digest.summary.startswith(f"Cost on {digest.facts['day']} (UTC): net $31.44")
