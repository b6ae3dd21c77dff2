"""The ledger's arithmetic, as tables: prices as stated, refunds taken off once whichever
way the provider states them, cancellation charges, a restart chain one piece of work,
"price not given" where no price is stated; and the diff keeps what the ledger needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core import diff, ledger
from monitor.core.ledger import Amounts, Entry
from monitor.core.memory import Refund
from monitor.core.model import EventKind
from monitor.core.settings import Thresholds
from tests.core.factories import T0, at, event, openai, together

DAY = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)


def job(job_id: str = "ft-a", *, price: float | None = None, peak: float | None = None,
        refunds: tuple[float | None, ...] = (), provider: str = "together-prod",
        model: str = "llama-8b", restart_of: str | None = None, hours: float = 0,
        tokens: int | None = None) -> Entry:  # fmt: skip
    return Entry(
        provider=provider,
        job_id=job_id,
        provider_kind="together",
        created_at=DAY + timedelta(hours=hours),
        status="succeeded",
        model=model,
        price_usd=price,
        peak_usd=peak if peak is not None else price,
        trained_tokens=tokens,
        refunds=tuple(Refund(key=f"r{i}", amount_usd=a, at=DAY) for i, a in enumerate(refunds)),
        restart_of=restart_of,
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        # a price as stated; a stated $0 is $0, not "not given"
        (job(price=12.84), Amounts(priced=True, charged=12.84, net=12.84)),
        (job(price=0.0), Amounts(priced=True)),
        # no price stated (billed tokens only): counted nowhere, never guessed
        (job(tokens=412_830), Amounts(priced=False)),
        # a cancellation billed for its completed steps: the price then stated, even lower
        # than an estimate stated before
        (job(price=13.06, peak=38.2), Amounts(priced=True, charged=13.06, net=13.06)),
        # refund line with an amount, price lowered to 0 as well: taken off once
        (job(price=0.0, peak=12.4, refunds=(12.4,)),
         Amounts(priced=True, charged=12.4, refunded=12.4, net=0.0)),
        # refund line with an amount, price left as it was
        (job(price=6.12, refunds=(6.12,)),
         Amounts(priced=True, charged=6.12, refunded=6.12, net=0.0)),
        # first seen after the refund: the line's amount says what had been charged
        (job(price=0.0, refunds=(6.12,)),
         Amounts(priced=True, charged=6.12, refunded=6.12, net=0.0)),
        # a partial refund, price not lowered
        (job(price=10.0, refunds=(3.0,)),
         Amounts(priced=True, charged=10.0, refunded=3.0, net=7.0)),
        # a partial refund the price already reflects
        (job(price=7.0, peak=10.0, refunds=(3.0,)),
         Amounts(priced=True, charged=10.0, refunded=3.0, net=7.0)),
        # a refund line without an amount: the price drop states it
        (job(price=0.0, peak=10.0, refunds=(None,)),
         Amounts(priced=True, charged=10.0, refunded=10.0, net=0.0)),
        # a refund line without an amount and no lower price: flagged, nothing taken off
        (job(price=10.0, refunds=(None,)),
         Amounts(priced=True, charged=10.0, net=10.0, refund_unstated=True)),
    ],
)  # fmt: skip
def test_amounts(entry: Entry, expected: Amounts) -> None:
    got = ledger.amounts(entry)
    assert (got.priced, got.refund_unstated) == (expected.priced, expected.refund_unstated)
    money = (got.charged, got.refunded, got.net)
    assert money == pytest.approx((expected.charged, expected.refunded, expected.net))


def test_a_restart_chain_is_one_piece_of_work_and_its_refund_is_taken_off_once() -> None:
    old = job("ft-old", price=0.0, peak=12.4, refunds=(12.4,))
    new = job("ft-new", price=18.6, restart_of="ft-old", hours=1)
    again = job("ft-third", price=2.0, restart_of="ft-new", hours=2)
    other = job("ft-other", price=4.0, hours=3)
    report = ledger.summarize([again, new, old, other], since=None, by="provider", tz=UTC)
    total = report.total.to_dict()
    assert (total["work"], total["jobs"]) == (2, 4)
    assert (total["charged_usd"], total["refunded_usd"], total["net_usd"]) == (37.0, 12.4, 24.6)
    assert ledger.chain_roots([old, new, again])[("together-prod", "ft-third")] == "ft-old"


def test_a_line_with_no_price_states_no_amount() -> None:
    """`--json` says null, as the table says "-", where no job of a line has a price: a
    machine must not read $0.00 into "price not given"."""
    unpriced = job("ftjob-a", provider="openai-prod", tokens=1000)
    priced = job("ft-b", price=4.0)
    report = ledger.summarize([unpriced, priced], since=None, by="provider", tz=UTC)
    lines = {line.key: line.to_dict() for line in report.lines}
    openai_line, total = lines["openai-prod"], report.total.to_dict()
    assert (openai_line["charged_usd"], openai_line["net_usd"]) == (None, None)
    assert openai_line["price_not_given"] == 1
    assert (total["charged_usd"], total["net_usd"], total["price_not_given"]) == (4.0, 4.0, 1)
    empty = ledger.summarize([], since=None, by="provider", tz=UTC).total.to_dict()
    assert (empty["charged_usd"], empty["net_usd"]) == (0.0, 0.0)  # nothing ran: $0.00


def test_a_restart_loop_in_the_links_does_not_hang() -> None:
    a, b = job("ft-a", restart_of="ft-b"), job("ft-b", restart_of="ft-a")
    assert set(ledger.chain_roots([a, b]).values()) <= {"ft-a", "ft-b"}


def test_groups_periods_and_unpriced_counts() -> None:
    entries = [
        job("ft-a", price=5.0),
        job("ftjob-b", provider="openai-prod", model="gpt-4o-mini", tokens=1000),
        job("ft-c", price=2.5, model="llama-70b", hours=24),
        job("ft-old", price=100.0, hours=-48),
    ]
    report = ledger.summarize(entries, since=DAY, by="model", tz=UTC)
    rows = {line.key: line.to_dict() for line in report.lines}
    assert set(rows) == {"llama-8b", "gpt-4o-mini", "llama-70b"}
    assert rows["gpt-4o-mini"]["price_not_given"] == 1
    assert rows["gpt-4o-mini"]["trained_tokens"] == 1000
    assert report.total.to_dict()["net_usd"] == 7.5
    days = ledger.summarize(entries, since=DAY, until=DAY + timedelta(hours=12), by="day", tz=UTC)
    assert [line.key for line in days.lines] == ["2026-11-04"]
    assert days.total.net == 5.0


def test_the_diff_keeps_the_peak_price_tokens_and_each_refund_line_once() -> None:
    th = Thresholds()
    running = together("running", price_usd=12.4)
    state, _ = diff.diff(None, running, [], at(1), th)
    refund = event("REFUND", "Refunded $12.40 for the job (internal error).", minutes=2,
                   kind=EventKind.REFUNDED, key="ev-refund")  # fmt: skip
    errored = together("error", price_usd=0.0)
    state, _ = diff.diff(state, errored, [refund], at(3), th)
    state, _ = diff.diff(state, errored, [refund], at(4), th)  # a replayed line
    assert (state.price_usd, state.peak_price_usd) == (0.0, 12.4)
    assert [(r.key, r.amount_usd) for r in state.refunds] == [("ev-refund", 12.4)]
    assert ledger.amounts(ledger.entry(state)).net == 0.0
    done, _ = diff.diff(None, openai("succeeded", trained_tokens=412_830), [], at(5), th)
    assert ledger.entry(done).trained_tokens == 412_830
    assert ledger.amounts(ledger.entry(done)).priced is False
    assert ledger.entry(done).created_at == T0


_MONEY = st.floats(min_value=0, max_value=1e4, allow_nan=False).map(lambda x: round(x, 2))


@given(
    prices=st.lists(st.one_of(st.none(), _MONEY), min_size=1, max_size=6),
    refunds=st.lists(st.one_of(st.none(), _MONEY), max_size=3),
    replays=st.integers(min_value=1, max_value=3),
)
def test_money_is_never_counted_twice_nor_below_zero(
    prices: list[float | None], refunds: list[float | None], replays: int
) -> None:
    """Whatever prices a job is stated at, poll by poll, and however often its refund lines
    are read again: net within [0, charged], charged = refunded + net, and a replay
    changes nothing."""
    th = Thresholds()
    words = ["Refunded" if a is None else f"Refunded ${a:.2f}" for a in refunds]
    lines = [
        event("REFUND", w, minutes=2 + i, kind=EventKind.REFUNDED, key=f"ev-{i}")
        for i, w in enumerate(words)
    ]
    state = None
    for minute, price in enumerate(prices):
        state, _ = diff.diff(state, together("running", price_usd=price), [], at(minute), th)
    once = None
    for n in range(replays):
        state, _ = diff.diff(state, together("error"), lines, at(10 + n), th)
        money = ledger.amounts(ledger.entry(state))
        once = once or money
        assert money == once
    assert once is not None
    if once.priced:
        assert 0 <= once.net <= once.charged + 1e-9
        assert once.charged == pytest.approx(once.refunded + once.net)
        assert once.refunded <= once.charged + 1e-9
