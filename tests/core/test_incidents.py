"""`monitor.provider_incident`: bursts that must and must not become one incident, and how
an incident holds, reminds and resolves (pure: alerts in, health and alerts out)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from monitor.core import incidents, provider_poll, render
from monitor.core.alerts import Alert, Cause, ConditionState, Kind, Severity
from monitor.core.memory import ProviderHealth, Trouble
from monitor.core.settings import Incidents, Thresholds

T0 = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
TG, OA = "together-prod", "openai-prod"
SETTINGS = Incidents(min_jobs=3, window=timedelta(minutes=30), hold=timedelta(minutes=3))
REPEAT = timedelta(hours=4)


def alert(
    job: str,
    kind: Kind = Kind.FAILED,
    cause: Cause | None = Cause.PROVIDER_ERROR,
    state: ConditionState | None = None,
) -> Alert:
    return Alert(
        kind=kind, severity=Severity.FAILURE, provider=TG, job_id=job, at=T0, summary="s",
        dedup_key=f"{job}/{kind}/{state}", cause=cause, state=state,
    )  # fmt: skip


def stall(job: str, state: ConditionState = ConditionState.FIRING) -> Alert:
    return alert(job, Kind.QUEUE_STALLED, None, state)


# A poll: (minutes after T0, its alerts, jobs with an open queue stall, jobs it could not read)
Poll = tuple[float, Sequence[Alert], Sequence[str], Sequence[str]]


def run(polls: Sequence[Poll], settings: Incidents = SETTINGS) -> list[tuple[float, str]]:
    """Every incident alert the polls raise, as (minute, state)."""
    health, told = ProviderHealth(), []
    for minute, alerts, stalled, unreadable in polls:
        now = T0 + timedelta(minutes=minute)
        found = incidents.evidence(alerts, stalled, unreadable, now)
        health, raised = incidents.step(health, TG, found, now, settings, REPEAT)
        health = ProviderHealth.from_json(health.to_json())  # what a restart reads back
        told += [(minute, str(a.state)) for a in raised]
    return told


CASES: list[tuple[str, list[Poll], list[tuple[float, str]]]] = [
    # three jobs fail on the provider's side within the window: one incident
    ("burst_of_failures", [(0, [alert("a")], [], []), (5, [alert("b"), alert("c")], [], [])],
     [(5, "firing")]),
    # two are not many
    ("below_threshold", [(0, [alert("a")], [], []), (5, [alert("b")], [], [])], []),
    # exactly at the threshold, the first just inside the window
    ("threshold_just_inside", [(0, [alert("a"), alert("b")], [], []),
                               (29.99, [alert("c")], [], [])], [(29.99, "firing")]),
    # the first exactly one window old has left it
    ("threshold_just_outside", [(0, [alert("a"), alert("b")], [], []),
                                (30, [alert("c")], [], [])], []),
    # spread beyond the window: never three at once
    ("spread_out", [(m, [alert(f"j{m}")], [], []) for m in (0, 20, 40, 60, 80)], []),
    # user-caused failures are never evidence, however many
    ("user_caused", [(0, [alert("a", cause=Cause.BILLING_LIMIT),
                          alert("b", cause=Cause.DATA_VALIDATION),
                          alert("c", cause=Cause.WANDB_AUTH),
                          alert("d", Kind.CANCELLED, Cause.USER_REQUESTED),
                          alert("e", cause=Cause.UNKNOWN)], [], [])], []),
    # one job failing and being restarted is one job, not three
    ("same_job", [(0, [alert("a"), alert("a", Kind.RESTARTED)], [], []),
                  (5, [alert("a")], [], [])], []),
    # queue stalls across jobs are an incident too
    ("queue_stalls", [(0, [stall("a"), stall("b"), stall("c")], [], [])], [(0, "firing")]),
    # a stall's end is no evidence
    ("stall_ends", [(0, [stall("a", ConditionState.RESOLVED), stall("b", ConditionState.RESOLVED),
                         stall("c", ConditionState.RESOLVED)], [], [])], []),
    # the API failing to answer for many jobs' reads
    ("api_errors", [(0, [], [], ["a", "b"]), (2, [], [], ["c"])], [(2, "firing")]),
    # classes add up: two failures and a stall are three jobs in trouble
    ("mixed_classes", [(0, [alert("a"), alert("b")], ["c"], [])], [(0, "firing")]),
    # quiet for a whole window: resolved, once
    ("resolves", [(0, [alert("a"), alert("b"), alert("c")], [], []), (10, [], [], []),
                  (30, [], [], []), (40, [], [], [])], [(0, "firing"), (30, "resolved")]),
    # one more failure while firing keeps it open a window longer (no second firing)
    ("holds_while_trouble_continues",
     [(0, [alert("a"), alert("b"), alert("c")], [], []), (25, [alert("d")], [], []),
      (45, [], [], []), (55, [], [], [])], [(0, "firing"), (55, "resolved")]),
    # an open stall renews its job's trouble each poll: the incident holds, then reminds
    ("reminds_while_stalled", [(m, [], ["a", "b", "c"], []) for m in (0, 60, 120, 180, 240)],
     [(0, "firing"), (240, "reminder")]),
    # a new burst after the end is a new incident
    ("second_episode", [(0, [alert("a"), alert("b"), alert("c")], [], []), (30, [], [], []),
                        (40, [alert("d"), alert("e"), alert("f")], [], [])],
     [(0, "firing"), (30, "resolved"), (40, "firing")]),
]  # fmt: skip


@pytest.mark.parametrize(("polls", "told"), [pytest.param(p, t, id=n) for n, p, t in CASES])
def test_bursts(polls: list[Poll], told: list[tuple[float, str]]) -> None:
    """Which bursts become one incident, and when it fires, reminds and resolves."""
    assert run(polls) == told


def test_the_end_says_how_long_it_lasted_and_no_stale_counts() -> None:
    """The resolved alert is info, says how long the incident lasted, and carries no job
    count (none is left in the window); the provider's own conditions are untouched."""
    found = incidents.evidence([alert("a"), alert("b"), alert("c")], (), (), T0)
    health, _ = incidents.step(ProviderHealth(), TG, found, T0, SETTINGS, REPEAT)
    end = T0 + SETTINGS.window
    health, (told,) = incidents.step(health, TG, [], end, SETTINGS, REPEAT)
    assert (told.state, told.severity, told.summary) == (
        ConditionState.RESOLVED,
        Severity.INFO,
        "ended after 30m",
    )
    assert "jobs" not in told.facts and told.hint is None
    assert told.dedup_key != incidents.firing_key(TG, T0)
    assert incidents.firing_since(health) is None and health.troubles == ()


def test_disabled_raises_nothing_and_ends_an_open_incident() -> None:
    """`enabled = false` keeps no evidence; an incident open before is resolved."""
    off = Incidents(enabled=False)
    burst = [alert("a"), alert("b"), alert("c")]
    health, raised = incidents.step(
        ProviderHealth(), TG, incidents.evidence(burst, (), (), T0), T0, SETTINGS, REPEAT
    )
    assert [a.state for a in raised] == [ConditionState.FIRING]
    later = T0 + timedelta(minutes=1)
    found = incidents.evidence(burst, (), (), later)
    health, raised = incidents.step(health, TG, found, later, off, REPEAT)
    assert [a.state for a in raised] == [ConditionState.RESOLVED]
    assert health.troubles == () and incidents.firing_since(health) is None


def test_providers_are_apart() -> None:
    """Two jobs on each of two providers are no incident anywhere: evidence is per provider."""
    healths = {TG: ProviderHealth(), OA: ProviderHealth()}
    told = []
    for provider in (TG, OA):
        found = incidents.evidence([alert(f"{provider}-a"), alert(f"{provider}-b")], (), (), T0)
        healths[provider], raised = incidents.step(
            healths[provider], provider, found, T0, SETTINGS, REPEAT
        )
        told += raised
    assert told == []


def test_the_message_names_the_jobs_the_window_the_cause_class_and_what_to_do() -> None:
    """The firing alert: jobs (capped, counted), when they were seen, classes, a next step."""
    jobs = [alert(f"ft-{n:02d}") for n in range(12)]
    found = incidents.evidence(jobs, ["ft-q1"], (), T0)
    _, (told,) = incidents.step(
        ProviderHealth(), TG, found, T0, SETTINGS, REPEAT, status_page="https://status.example"
    )
    assert told.kind is Kind.PROVIDER_INCIDENT and told.job_id is None
    assert told.facts["status_page"] == "https://status.example"
    assert told.severity is Severity.FAILURE
    assert told.summary == (
        "13 jobs hit trouble on the provider's side within 30m (seen 2026-11-04 09:00–09:00 "
        "UTC): 12 failed on the provider's side; 1 stuck in the queue. Jobs: ft-00, ft-01, "
        "ft-02, ft-03, ft-04, ft-05, ft-06, ft-07, ft-08, ft-09 and 3 more."
    )
    assert told.facts["jobs"] == 13 and told.facts["cause_class"] == "failed, queued"
    assert told.hint is not None and "status page" in told.hint and "support" in told.hint
    assert told.label_line() == (
        "kind=monitor.provider_incident severity=failure provider=together-prod state=firing"
    )
    assert told.dedup_key == incidents.firing_key(TG, T0)


def test_stalls_alone_are_a_warning() -> None:
    """Jobs stuck in the queue are a warning, like a single stall; failures make it a failure."""
    found = incidents.evidence([stall("a"), stall("b"), stall("c")], (), (), T0)
    _, (told,) = incidents.step(ProviderHealth(), TG, found, T0, SETTINGS, REPEAT)
    assert told.severity is Severity.WARNING


def test_a_successful_poll_leaves_the_incident_open() -> None:
    """The provider's own health conditions step apart from the incident (not resolved)."""
    found = incidents.evidence([alert("a"), alert("b"), alert("c")], (), (), T0)
    health, _ = incidents.step(ProviderHealth(), TG, found, T0, SETTINGS, REPEAT)
    later = T0 + timedelta(minutes=1)
    health, raised = provider_poll.poll_succeeded(health, TG, later, Thresholds())
    assert raised == [] and incidents.firing_since(health) == T0


def test_memory_is_bounded() -> None:
    """A provider failing thousands of jobs keeps at most KEPT troubles."""
    many = [Trouble(job_id=f"j{n}", at=T0, what=incidents.FAILED) for n in range(3000)]
    health, _ = incidents.step(ProviderHealth(), TG, many, T0, SETTINGS, REPEAT)
    assert len(health.troubles) == incidents.KEPT


def test_one_stalled_job_left_keeps_it_open_and_is_said_as_one() -> None:
    """Of three stuck jobs two leave the queue: the incident holds while the third is stuck
    (its stall is still the provider's trouble), and its reminder says "1 job"."""
    health, _ = incidents.step(
        ProviderHealth(), TG, incidents.evidence((), ["a", "b", "c"], (), T0), T0, SETTINGS, REPEAT
    )
    later = T0 + REPEAT
    health, (reminder,) = incidents.step(
        health, TG, incidents.evidence((), ["c"], (), later), later, SETTINGS, REPEAT
    )
    assert reminder.state is ConditionState.REMINDER
    assert reminder.summary.startswith("1 job hit trouble on the provider's side within 30m")
    assert (
        render.title_for([reminder]) == "together-prod: still provider incident: 1 job in trouble"
    )
