"""The pacer: a provider's 429s and rate-limit headers slow its requests down smoothly."""

from __future__ import annotations

import anyio
import pytest

from monitor.core.model import ProviderKind
from monitor.core.settings import ProviderConfig, Secret
from monitor.providers import make_client
from monitor.providers.pacing import DEFAULT_PAUSE, Pacer, Places, budget, parse_duration
from monitor.simulator import Simulator


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        ("1s", 1.0),
        ("20ms", 0.02),
        ("6m0s", 360.0),
        ("1h2m3.5s", 3723.5),
        ("soon", None),
        ("5x", None),
        ("-1", None),
        (None, None),
    ],
)
def test_parse_duration(text: str | None, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_budget_reads_both_providers_headers() -> None:
    """OpenAI's -requests headers (reset as a duration), Together's plain ones (seconds,
    or a unix time)."""
    openai = {"x-ratelimit-remaining-requests": "12", "x-ratelimit-reset-requests": "6m0s"}
    assert budget(openai, 0.0) == (12, 360.0)
    together = {"x-ratelimit-remaining": "3", "x-ratelimit-reset": "2"}
    assert budget(together, 0.0) == (3, 2.0)
    assert budget({"x-ratelimit-reset": "2000000000"}, 1_999_999_990.0) == (None, 10.0)
    assert budget({}, 0.0) == (None, None)


def test_a_429_halves_the_limit_and_pauses_for_retry_after() -> None:
    clock = FakeClock()
    pacer = Pacer(8, clock=clock)
    pacer.observe(429, {}, wait=3.0)
    assert (pacer.limit, pacer.delay()) == (4, 3.0)
    pacer.observe(429, {})  # no Retry-After: the default pause, from now
    assert (pacer.limit, pacer.delay(), pacer.throttled) == (2, 3.0, 2)
    clock.now += 3.0
    assert pacer.delay() == 0.0


def test_the_limit_creeps_back_after_pressure() -> None:
    """One more place per `limit` clean answers, never above the starting ceiling."""
    pacer = Pacer(4, clock=FakeClock())
    pacer.observe(429, {}, wait=0.0)
    pacer.observe(429, {}, wait=0.0)
    assert pacer.limit == 1
    for _ in range(1 + 2 + 3 + 10):
        pacer.observe(200, {})
    assert pacer.limit == 4


def test_a_dwindling_budget_spreads_the_rest_over_the_window() -> None:
    """Few requests left: spaced evenly until the reset and never more at once than are
    left; none left: nothing starts before the reset."""
    clock = FakeClock()
    pacer = Pacer(8, clock=clock)
    pacer.observe(200, {"x-ratelimit-remaining": "100", "x-ratelimit-reset": "60"})
    assert (pacer.spacing, pacer.limit) == (0.0, 8)
    pacer.observe(200, {"x-ratelimit-remaining": "4", "x-ratelimit-reset": "2"})
    assert (pacer.spacing, pacer.limit) == (0.5, 4)
    pacer.observe(200, {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "3s"})
    assert pacer.delay() == 3.0
    pacer.observe(200, {"x-ratelimit-remaining": "0"})
    assert pacer.delay() == 3.0  # the longer pause stands
    clock.now += 3.0
    pacer.observe(200, {"x-ratelimit-remaining": "0"})
    assert pacer.delay() == DEFAULT_PAUSE


def test_no_answer_says_nothing_about_the_rate() -> None:
    pacer = Pacer(8, clock=FakeClock())
    pacer.observe(None, {})
    assert (pacer.limit, pacer.spacing, pacer.delay()) == (8, 0.0, 0.0)


async def test_slots_hold_requests_to_the_limit_and_the_pause() -> None:
    """At most `limit` inside at once; a pause set by an answer holds the next start."""
    pacer = Pacer(2)
    inside = peak = 0

    async def request() -> None:
        nonlocal inside, peak
        async with pacer.slot():
            inside += 1
            peak = max(peak, inside)
            await anyio.sleep(0.01)
            inside -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(request)
    assert peak == 2
    pacer.observe(429, {}, wait=0.2)
    started = anyio.current_time()
    async with pacer.slot():
        assert anyio.current_time() - started >= 0.19
    assert pacer.limit == 1


async def test_places_are_taken_in_turn_and_a_cancelled_turn_is_passed_on() -> None:
    """First come, first served; a waiter cancelled while it queues takes no place, and
    one cancelled after it was handed a place hands it to the next; growing the total
    lets the queue in at once."""
    places = Places(1)
    await places.acquire()  # a free place: taken without waiting
    order: list[str] = []

    async def waiter(name: str) -> None:
        await places.acquire()
        order.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter, "a")
        await anyio.sleep(0.01)
        async with anyio.create_task_group() as doomed:
            doomed.start_soon(waiter, "cancelled while queued")
            await anyio.sleep(0.01)
            doomed.cancel_scope.cancel()
        tg.start_soon(waiter, "b")
        await anyio.sleep(0.01)
        async with anyio.create_task_group() as handed:
            handed.start_soon(waiter, "cancelled once handed")
            await anyio.sleep(0.01)
            places.release()  # "a" gets it: the cancelled waiter is out of the queue
            await anyio.sleep(0.01)
            places.release()  # "b"
            await anyio.sleep(0.01)
            handed.cancel_scope.cancel()  # the last waiter is cancelled, and before it
            places.release()  # runs again its turn comes up: it must pass the place on
        assert order == ["a", "b"] and places.held == 0
        await places.acquire()
        for name in ("c", "d", "e"):
            tg.start_soon(waiter, name)
        await anyio.sleep(0.01)
        assert order == ["a", "b"] and places.held == 1  # c, d, e queue behind the holder
        places.resize(4)
        await anyio.sleep(0.01)
    assert order == ["a", "b", "c", "d", "e"] and places.held == 4


@pytest.mark.parametrize("kind", ["together", "openai"])
async def test_rate_limit_headers_on_successful_answers_pace_the_client(kind: str) -> None:
    """Both providers send their budget on 200s too (provider-apis.md section 4, item 10):
    a budget running low spaces the next requests before any 429 arrives."""
    with Simulator() as sim:
        sim.api.rate_limit = 60  # a small budget per minute, as a busy account has
        key = "sim-together-key" if kind == "together" else "sim-openai-key"
        cfg = ProviderConfig(
            name=kind, kind=ProviderKind(kind), api_key=Secret(key), base_url=sim.base_url
        )
        client = make_client(cfg)
        try:
            await client.list_jobs(created_after=None)
            pacer = client._http.pacer  # type: ignore[attr-defined]
            assert pacer.spacing == 0.0  # 59 left of 60: plenty
            calls = 1
            while pacer.spacing == 0.0 and calls < 120:  # two windows, should one roll over
                await client.list_jobs(created_after=None)
                calls += 1
            # no 429 came: the 200s' own headers slowed the client as the budget ran low
            assert pacer.spacing > 0.0 and pacer.throttled == 0 and calls < 120
        finally:
            await client.aclose()
