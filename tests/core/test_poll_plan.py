"""The poll's requests as values (`poll_plan`): tables with named fields, step by step."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest

from monitor.core import poll_plan
from monitor.core.diff import diff
from monitor.core.memory import JobState
from monitor.core.model import JobSnapshot, ProviderKind
from monitor.core.plan import LIST_SLACK, Settled
from monitor.core.poll_plan import JUST_BEFORE, ReadsDone, Scope
from monitor.core.reads import Reads
from monitor.core.routing import JobMatch
from monitor.core.settings import ProviderConfig, Secret, Thresholds
from tests.core.factories import T0, at, event, openai, together

TH = Thresholds(progress_stall=timedelta(minutes=45))
LOOKBACK = timedelta(days=1)
NOW = at(600)
EVERY_JOB = JobMatch()


def provider(
    kind: ProviderKind = ProviderKind.TOGETHER,
    jobs: tuple[str, ...] = (),
    watch: JobMatch = EVERY_JOB,
) -> ProviderConfig:
    return ProviderConfig(
        name=f"{kind}-prod",
        kind=kind,
        api_key=Secret("k"),
        base_url="http://127.0.0.1:9",
        jobs=jobs,
        lookback=LOOKBACK,
        watch=watch,
    )


def state_of(snapshot: JobSnapshot, minutes: float = 0) -> JobState:
    state, _ = diff(None, snapshot, [], at(minutes), TH)
    return replace(state, marks=replace(state.marks, snapshot=snapshot.mark))


# -- step 1: scope ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ScopeCase:
    name: str
    states: tuple[JobState, ...] = ()
    settled: dict[str, Settled] = field(default_factory=dict)
    config: ProviderConfig = field(default_factory=provider)
    first: bool = False
    list_pages: bool = True
    narrow: bool = False
    focus: frozenset[str] = frozenset()
    list_after: datetime | None = None
    nudged: tuple[str, ...] = ()
    open_ids: frozenset[str] = frozenset()


OPEN = state_of(together("running", job_id="ft-open", created_at=at(100)))
DONE = state_of(together("completed", job_id="ft-done", created_at=at(500)))
SETTLED = {"ft-old": Settled(raw_status="completed", mark="m", created_at=at(300))}

SCOPES = [
    ScopeCase(
        name="first poll: the whole lookback",
        states=(OPEN,),
        first=True,
        list_after=NOW - LOOKBACK - JUST_BEFORE,
        open_ids=frozenset({"ft-open"}),
    ),
    ScopeCase(
        name="later: back to the oldest open job",
        states=(OPEN, DONE),
        list_after=at(100) - JUST_BEFORE,
        open_ids=frozenset({"ft-open"}),
    ),
    ScopeCase(
        name="nothing open: just before the newest finished job",
        states=(DONE,),
        settled=SETTLED,
        list_after=at(500) - LIST_SLACK - JUST_BEFORE,
    ),
    ScopeCase(
        name="a named job not known yet: the whole lookback",
        states=(OPEN,),
        config=provider(jobs=("ft-unknown",)),
        list_after=NOW - LOOKBACK - JUST_BEFORE,
        open_ids=frozenset({"ft-open"}),
    ),
    ScopeCase(
        name="a list that does not page is read whole",
        states=(OPEN,),
        list_pages=False,
        list_after=NOW - LOOKBACK - JUST_BEFORE,
        open_ids=frozenset({"ft-open"}),
    ),
    ScopeCase(
        name="a nudge alone: no list, the named jobs it knows or would watch",
        states=(OPEN, DONE),
        narrow=True,
        focus=frozenset({"ft-open", "ft-new"}),
        list_after=None,
        nudged=("ft-open", "ft-new"),
        open_ids=frozenset({"ft-open"}),
    ),
]


@pytest.mark.parametrize("case", SCOPES, ids=lambda c: c.name)
def test_scope(case: ScopeCase) -> None:
    scope = poll_plan.scope(
        case.config,
        {s.job_id: s for s in case.states},
        case.settled,
        NOW,
        first=case.first,
        list_pages=case.list_pages,
        focus=case.focus,
        narrow=case.narrow,
    )
    assert scope.list_after == case.list_after
    assert scope.nudged == case.nudged
    assert scope.open_ids == case.open_ids


def test_the_watch_filter_leaves_other_teams_jobs_out_of_scope() -> None:
    mine = state_of(together("running", job_id="ft-mine", suffix="search"))
    theirs = state_of(together("running", job_id="ft-theirs", suffix="ads"))
    config = provider(watch=JobMatch(suffix=("search",)))
    everything = {s.job_id: s for s in (mine, theirs)}
    scope = poll_plan.scope(config, everything, {}, NOW, first=False, list_pages=True)
    assert set(scope.states) == {"ft-mine"} and scope.open_ids == {"ft-mine"}


# -- step 2: retrieves --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RetrieveCase:
    name: str
    listed: tuple[str, ...]
    focus: frozenset[str] = frozenset()
    expected: list[str]


def _scope(open_ids: frozenset[str], tracked: frozenset[str] = frozenset()) -> Scope:
    return Scope(
        states={},
        settled={},
        followed=frozenset(),
        open_ids=open_ids,
        tracked=tracked,
        list_after=at(0),
    )


RETRIEVES = [
    RetrieveCase(name="every open job listed: none", listed=("a", "b"), expected=[]),
    RetrieveCase(name="an open job the list dropped", listed=("a",), expected=["b"]),
    RetrieveCase(
        name="a nudged unknown job not in the list comes after",
        listed=("a",),
        focus=frozenset({"z"}),
        expected=["b", "z"],
    ),
    RetrieveCase(
        name="a nudged job the list shows is not retrieved",
        listed=("a", "b", "z"),
        focus=frozenset({"z"}),
        expected=[],
    ),
]


@pytest.mark.parametrize("case", RETRIEVES, ids=lambda c: c.name)
def test_retrieves(case: RetrieveCase) -> None:
    scope = _scope(
        frozenset({"a", "b"}), tracked=frozenset({"a", "b"}) if case.focus else frozenset()
    )
    listed = {job: together("running", job_id=job) for job in case.listed}
    assert poll_plan.retrieves(scope, provider(), listed, case.focus) == case.expected


# -- step 3: what is worth a look, and what of each to read -------------------------------


@dataclass(frozen=True, kw_only=True)
class JobCase:
    name: str
    snapshot: JobSnapshot
    state: JobState | None = None
    settled: Settled | None = None
    minutes: float = 10
    baseline: bool = False
    reads: Reads | None  # None: not worth a look
    revive: bool = False


RUN_T = together("running")
RUN_O = openai("running")
READ_RUNNING_T = replace(
    state_of(RUN_T, 9),
    marks=replace(state_of(RUN_T, 9).marks, log_read_at=at(9), progress_read_at=at(9)),
)

JOBS = [
    JobCase(
        name="new OpenAI job: its log",
        snapshot=RUN_O,
        reads=Reads(log=True, losses=False, retrieve=False),
    ),
    JobCase(
        name="new Together job: the log comes with a retrieve, and the losses",
        snapshot=RUN_T,
        reads=Reads(log=True, losses=True, retrieve=True),
    ),
    JobCase(
        name="finished job first seen in a baseline: nothing beyond the list",
        snapshot=openai("succeeded"),
        baseline=True,
        reads=Reads(log=False, losses=False, retrieve=False),
    ),
    JobCase(
        name="running Together job read a minute ago: losses not yet, log not yet",
        snapshot=RUN_T,
        state=replace(READ_RUNNING_T, marks=replace(READ_RUNNING_T.marks, losses_read_at=at(9))),
        reads=Reads(log=False, losses=False, retrieve=False),
    ),
    JobCase(
        name="finished job the list shows unchanged: not worth a look",
        snapshot=together("completed"),
        state=state_of(together("completed")),
        reads=None,
    ),
    JobCase(
        name="settled job the provider changed again: read back whole, then looked at",
        snapshot=together("completed", updated_at=at(8)),
        settled=Settled(raw_status="completed", mark="older", created_at=T0),
        reads=None,
        revive=True,
    ),
]


@pytest.mark.parametrize("case", JOBS, ids=lambda c: c.name)
def test_job_plans(case: JobCase) -> None:
    everything = {case.state.job_id: case.state} if case.state else {}
    settled = {case.snapshot.id: case.settled} if case.settled else {}
    config = provider()
    scope = poll_plan.scope(
        config, everything, settled, at(case.minutes), first=False, list_pages=True
    )
    worth, revive = poll_plan.looked(scope, config, [case.snapshot], everything, None)
    assert revive == ([case.snapshot.id] if case.revive else [])
    plans = poll_plan.job_plans(
        scope, config, worth, everything, at(case.minutes), TH,
        baseline=case.baseline, quiet_before=None,
    )  # fmt: skip
    if case.reads is None and not case.revive:
        assert plans == []
    elif case.reads is not None:
        assert [p.reads for p in plans] == [case.reads]


def test_job_plans_come_in_the_diffs_order() -> None:
    """Oldest first: a restart's new job is planned after the job it replaces."""
    later = together("running", job_id="ft-b", created_at=at(5))
    earlier = together("running", job_id="ft-a", created_at=at(1))
    scope = poll_plan.scope(provider(), {}, {}, NOW, first=True, list_pages=True)
    plans = poll_plan.job_plans(
        scope, provider(), [later, earlier], {}, NOW, TH, baseline=False, quiet_before=None
    )
    assert [p.snapshot.id for p in plans] == ["ft-a", "ft-b"]


# -- step 4: settle -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SettleCase:
    name: str
    done: dict[str, frozenset[str]]  # ReadsDone field -> job ids
    log_read_at: datetime | None = None
    losses_read_at: datetime | None = None
    losses_missing: int = 0
    progress_read_at: datetime | None = None


SETTLES = [
    SettleCase(name="listed only: the mark, no read times", done={}),
    SettleCase(name="log read", done={"logs_read": frozenset({"ft-s"})}, log_read_at=at(20)),
    SettleCase(
        name="losses read", done={"losses_read": frozenset({"ft-s"})}, losses_read_at=at(20)
    ),
    SettleCase(
        name="metrics 404: counted, retried later",
        done={"losses_missing": frozenset({"ft-s"})},
        losses_missing=1,
    ),
    SettleCase(
        name="retrieved for progress",
        done={"progress_read": frozenset({"ft-s"})},
        progress_read_at=at(20),
    ),
]


@pytest.mark.parametrize("case", SETTLES, ids=lambda c: c.name)
def test_settle_marks_what_the_poll_read(case: SettleCase) -> None:
    snapshot = together("running", job_id="ft-s")
    before, _ = diff(None, snapshot, [], at(10), TH)
    state, _ = diff(before, snapshot, [event("job_start", "go", 19)], at(20), TH)
    done = ReadsDone(
        events={"ft-s": [event("job_start", "go", 19)]},
        snapshots={"ft-s": snapshot},
        **case.done,
    )
    (written,) = poll_plan.settle({"ft-s": before}, [state], done, at(20))
    marks = written.marks
    assert marks.snapshot == snapshot.mark
    assert marks.log_read_at == case.log_read_at
    assert marks.losses_read_at == case.losses_read_at
    assert marks.losses_missing == case.losses_missing
    assert (marks.losses_retry_at is not None) == bool(case.losses_missing)
    assert marks.progress_read_at == case.progress_read_at


def test_settle_drops_a_state_the_poll_left_as_it_was() -> None:
    snapshot = together("queued", job_id="ft-q")
    state = state_of(snapshot, 1)
    again, _ = diff(state, snapshot, [], at(2), TH)
    done = ReadsDone(events={}, snapshots={"ft-q": snapshot})
    assert poll_plan.settle({"ft-q": state}, [again], done, at(2)) == []


def test_the_keeper_drops_only_settled_jobs_the_provider_left_as_they_were() -> None:
    """While the list is read, a settled job whose status and mark did not move is dropped
    (`looked` would drop it); a changed one, an open one and an unknown one are kept."""
    done = together("completed", job_id="ft-done", finished_at=at(5))
    moved = together("completed", job_id="ft-moved", finished_at=at(5))
    settled = {
        "ft-done": Settled(raw_status="completed", mark=done.mark, created_at=T0),
        "ft-moved": Settled(raw_status="completed", mark="another", created_at=T0),
    }
    scope = replace(_scope(frozenset({"ft-open"})), settled=settled)
    running = together("running", job_id="ft-open")
    state = state_of(running, 1)
    keep = poll_plan.Keeper(scope, {"ft-open": state})
    listed = [done, moved, running, together("queued", job_id="ft-new")]
    assert [s.id for s in listed if keep(s)] == ["ft-moved", "ft-open", "ft-new"]
    everything = {"ft-open": state}
    worth, _ = poll_plan.looked(scope, provider(), listed, everything, None)
    kept, _ = poll_plan.looked(scope, provider(), [s for s in listed if keep(s)], everything, None)
    assert kept == worth  # dropping them early changes nothing the poll looks at
