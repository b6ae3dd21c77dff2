"""The pure story of `ftmon explain`: chains, the merged status path, cause, next step, cost."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.core import explain
from monitor.core.alerts import HINTS, Alert, Cause, Kind, Severity
from monitor.core.memory import JobState, Refund, RestartLink
from monitor.core.model import ProviderKind, Status
from monitor.providers.together import TRAITS as TOGETHER

T0 = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)


def job(job_id: str, status: Status = Status.RUNNING, **kw: object) -> JobState:
    return JobState(
        provider="together-prod",
        job_id=job_id,
        kind=ProviderKind.TOGETHER,
        status=status,
        raw_status=str(status),
        created_at=T0,
        link=TOGETHER.link(job_id),  # as the diff sets it from the provider's traits
        **kw,  # type: ignore[arg-type]
    )


def record(
    alert_job: str, kind: Kind, cause: Cause | None = None, **kw: object
) -> explain.AlertRecord:
    alert = Alert(
        kind=kind,
        severity=Severity.FAILURE,
        provider="together-prod",
        job_id=alert_job,
        at=T0,
        summary=str(kind),
        dedup_key=f"{alert_job}:{kind}",
        cause=cause,
        **kw,  # type: ignore[arg-type]
    )
    return explain.AlertRecord(alert=alert, raised_at=T0, routed=True)


CHAIN = {
    "a": job("a", Status.FAILED, restart=RestartLink(successor="b")),
    "b": job("b", Status.FAILED, restart=RestartLink(of="a", successor="c")),
    "c": job("c", restart=RestartLink(of="b")),
    "x": job("x"),
}


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("a", ["a", "b", "c"]),  # asked about the first: the whole chain, oldest first
        ("b", ["a", "b", "c"]),  # the middle: the same chain
        ("c", ["a", "b", "c"]),  # the newest: the same chain
        ("x", ["x"]),  # no restarts: the job alone
    ],
)
def test_chain_is_the_whole_restart_story_whichever_job_is_asked(
    asked: str, expected: list[str]
) -> None:
    assert [s.job_id for s in explain.chain(CHAIN, asked)] == expected


def test_a_chain_that_loops_or_names_a_forgotten_job_still_ends() -> None:
    looped = {
        "a": job("a", restart=RestartLink(of="b", successor="b")),
        "b": job("b", restart=RestartLink(of="a", successor="a")),
    }
    assert {s.job_id for s in explain.chain(looped, "a")} == {"a", "b"}
    forgotten = {"b": job("b", restart=RestartLink(of="gone", successor="also-gone"))}
    assert [s.job_id for s in explain.chain(forgotten, "b")] == ["b"]


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        ((None,), "price not given"),  # never guessed
        ((12.4,), "$12.40"),
        ((0.0, 18.6), "$18.60"),  # a refunded job costs nothing; the chain is counted once
        ((None, 18.6), "$18.60 (1 job(s) of the chain: price not given)"),
    ],
)
def test_cost_is_what_the_provider_stated(prices: tuple[float | None, ...], expected: str) -> None:
    jobs = tuple(job(f"j{i}", price_usd=p) for i, p in enumerate(prices))
    assert explain.cost_text(explain.Story(jobs=jobs, alerts=())) == expected


def test_cost_takes_a_refund_off_once_as_the_ledger_does() -> None:
    """The refunded job's price was lowered to 0 and its refund line states $12.40: the
    chain's net is the new job's price, not $18.60 less $12.40 again."""
    refund = Refund(key="ev-refund", amount_usd=12.4, at=T0)
    old = job("a", price_usd=0.0, peak_price_usd=12.4, refunds=(refund,))
    new = job("b", price_usd=18.6)
    story = explain.Story(jobs=(old, new), alerts=())
    assert explain.cost_text(story) == "$18.60 (charged $31.00, refunded $12.40)"


def test_cause_and_next_step_follow_the_latest_failure_until_the_chain_succeeds() -> None:
    failed = explain.Story(
        jobs=(job("a", Status.FAILED),),
        alerts=(record("a", Kind.FAILED, Cause.DATA_VALIDATION),),
    )
    assert explain.cause_of(failed) is Cause.DATA_VALIDATION
    assert explain.next_step(failed) == HINTS[Cause.DATA_VALIDATION]
    silent = explain.Story(jobs=(job("a", Status.CANCELLED),), alerts=())
    assert explain.cause_of(silent) is Cause.UNKNOWN  # cancelled, nothing said why
    done = replace(
        failed, jobs=(job("a", Status.FAILED), job("b", Status.SUCCEEDED, output_name="acme/m"))
    )
    assert explain.next_step(done).startswith("Nothing: the job succeeded")
    assert "acme/m" in explain.next_step(done)
    running = explain.Story(jobs=(job("a"),), alerts=())
    assert explain.cause_of(running) is None
    assert explain.next_step(running).startswith("Nothing yet")


def test_a_restarted_chain_still_running_names_its_cause_but_asks_nothing() -> None:
    """The provider restarted the failed job and its successor runs: the cause is the
    restart's, and the next step is not the failure's "if no restart follows, resubmit"
    (one did follow); ftmon is watching the successor."""
    told = (
        record("a", Kind.FAILED, Cause.PROVIDER_ERROR),
        record("a", Kind.RESTARTED, Cause.PROVIDER_ERROR),
        record("b", Kind.STARTED),
    )
    chain = (job("a", Status.FAILED, restart=RestartLink(successor="b")), job("b"))
    story = explain.Story(jobs=chain, alerts=told)
    assert explain.cause_of(story) is Cause.PROVIDER_ERROR
    assert explain.next_step(story).startswith("Nothing yet")
    only_restart = explain.Story(jobs=chain, alerts=told[1:])  # the failure never told alone
    assert explain.cause_of(only_restart) is Cause.PROVIDER_ERROR


def test_the_status_path_of_a_finished_job_comes_back_from_its_alerts() -> None:
    """A finished job's state keeps only its last status; the alerts carry the rest."""
    later = T0 + timedelta(minutes=40)
    state = job("a", Status.FAILED, status_path=(("error", later),))
    path = (("queued", T0), ("running", T0 + timedelta(minutes=3)), ("error", later))
    alert = record("a", Kind.FAILED, Cause.PROVIDER_ERROR, status_path=path)
    data = explain.to_dict(explain.Story(jobs=(state,), alerts=(alert,)), later)
    assert [s for s, _ in data["chain"][0]["status_path"]] == ["queued", "running", "error"]
    assert data["cause"] == "provider_error"
    assert data["link"] == "https://api.together.ai/fine-tuning/a"
