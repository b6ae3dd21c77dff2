"""Job matchers of routes and watch filters: globs, lists, metadata, missing fields,
restart successors, monitor alerts, and the words check-config prints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.core.alerts import Kind
from monitor.core.memory import ProviderHealth
from monitor.core.routing import (
    JobFields,
    JobMatch,
    describe,
    fields_of_alert,
    glob_problem,
    inherit,
    matches,
    mismatch,
    quiet_before,
    watch_mark,
)
from monitor.core.samples import sample_alert

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

SUPPORT_OA = JobFields(
    job_id="ftjob-aaa",
    model="gpt-4o-mini-2024-07-18",
    suffix="support-bot",
    output="ft:gpt-4o-mini-2024-07-18:acme:support-bot:AbC123",
    wandb_project="support-ft",
    metadata={"team": "support", "env": "prod"},
)
SEARCH_TG = JobFields(
    job_id="ft-1111",
    model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    suffix="search-ranker",
    output="acme/Meta-Llama-3.1-8B-Instruct-Reference-search-ranker-1111",
    wandb_project="search",
)
SUCCESSOR = JobFields(job_id="ft-2222", original_job="ft-1111", model=SEARCH_TG.model)
BARE = JobFields(job_id="ft-3333")


@pytest.mark.parametrize(
    ("match", "job", "expected"),
    [
        # no matcher: every job, and monitor alerts (job None) too
        (JobMatch(), SUPPORT_OA, True),
        (JobMatch(), None, True),
        # any matcher: never a monitor alert
        (JobMatch(model=("*",)), None, False),
        # a glob on the model
        (JobMatch(model=("gpt-4o*",)), SUPPORT_OA, True),
        (JobMatch(model=("gpt-4o*",)), SEARCH_TG, False),
        # globs are case-sensitive
        (JobMatch(model=("GPT-4O*",)), SUPPORT_OA, False),
        # a list of globs is alternatives
        (JobMatch(suffix=("support-*", "search-*")), SEARCH_TG, True),
        # several matchers: all must match
        (JobMatch(suffix=("support-*",), wandb_project=("search",)), SUPPORT_OA, False),
        (JobMatch(suffix=("support-*",), wandb_project=("support-*",)), SUPPORT_OA, True),
        # output and its glob classes
        (JobMatch(output=("ft:*:acme:support-[a-z]*",)), SUPPORT_OA, True),
        # metadata: each key must be there and match
        (JobMatch(metadata=(("team", ("support",)),)), SUPPORT_OA, True),
        (JobMatch(metadata=(("team", ("support",)), ("env", ("dev",)))), SUPPORT_OA, False),
        # a Together job has no metadata: a metadata matcher never takes it
        (JobMatch(metadata=(("team", ("*",)),)), SEARCH_TG, False),
        # a missing field matches no glob, not even "*"
        (JobMatch(suffix=("*",)), BARE, False),
        (JobMatch(wandb_project=("*",)), BARE, False),
        # job ids, and a successor matches its original's id
        (JobMatch(job=("ft-1111",)), SEARCH_TG, True),
        (JobMatch(job=("ft-1111",)), SUCCESSOR, True),
        (JobMatch(job=("ft-2222",)), SEARCH_TG, False),
        (JobMatch(job=("ftjob-*",)), SUPPORT_OA, True),
    ],
)
def test_match_table(match: JobMatch, job: JobFields | None, expected: bool) -> None:
    assert matches(match, job) is expected


@pytest.mark.parametrize(
    ("match", "job", "why"),
    [
        (JobMatch(model=("*",)), None, "the alert is about no job, and this matches on job fields"),
        (JobMatch(suffix=("support-*",)), BARE, "the job has no suffix"),
        (JobMatch(suffix=("support-*",)), SEARCH_TG, 'suffix "search-ranker" is not "support-*"'),
        (
            JobMatch(metadata=(("team", ("support", "ml")),)),
            JobFields(job_id="x", metadata={"team": "search"}),
            'metadata team "search" is not "support" or "ml"',
        ),
        (JobMatch(metadata=(("team", ("x",)),)), SEARCH_TG, "the job has no metadata team"),
    ],
)
def test_mismatch_says_why(match: JobMatch, job: JobFields | None, why: str) -> None:
    assert mismatch(match, job) == why


def test_successor_inherits_what_the_provider_does_not_show() -> None:
    """A restarted job's successor matches like the original: its fields fill the gaps."""
    got = inherit(SUCCESSOR, SEARCH_TG)
    assert got.suffix == "search-ranker"
    assert got.wandb_project == "search"
    assert got.model == SEARCH_TG.model
    assert got.job_id == "ft-2222"
    assert got.original_job == "ft-1111"
    assert matches(JobMatch(suffix=("search-*",)), got)
    assert not matches(JobMatch(suffix=("search-*",)), SUCCESSOR)


def test_successor_keeps_its_own_fields() -> None:
    own = JobFields(job_id="n", suffix="mine", metadata={"team": "a"})
    got = inherit(own, JobFields(job_id="o", suffix="theirs", metadata={"team": "b", "x": "y"}))
    assert got.suffix == "mine"
    assert got.metadata == {"team": "a", "x": "y"}


def test_fields_of_an_alert() -> None:
    """An alert carries what matchers need; a monitor alert is about no job."""
    alert = sample_alert(Kind.FAILED, T0, "n1", "openai-prod")
    fields = fields_of_alert(alert)
    assert fields is not None
    assert fields.job_id == alert.job_id
    assert fields.model == alert.model
    assert fields_of_alert(sample_alert(Kind.PROVIDER_DOWN, T0, "n2")) is None


@pytest.mark.parametrize(
    ("match", "words"),
    [
        (JobMatch(), "every job"),
        (JobMatch(suffix=("support-*",)), 'jobs whose suffix is "support-*"'),
        (
            JobMatch(model=("a", "b"), metadata=(("team", ("support",)),)),
            'jobs whose model is "a" or "b" and metadata team is "support"',
        ),
        (
            JobMatch(output=("o",), wandb_project=("w",), job=("j",)),
            'jobs whose output model is "o", W&B project is "w" and job id is "j"',
        ),
    ],
)
def test_describe_in_words(match: JobMatch, words: str) -> None:
    assert describe(match) == words


@pytest.mark.parametrize(
    ("glob", "problem"),
    [
        ("support-*", None),
        ("[abc]*", None),
        ("[!x]", None),
        ("[]]", None),
        ("[[]literal", None),
        ("", "an empty glob matches nothing"),
        ("  ", "an empty glob matches nothing"),
        ("team-[ab", "an unclosed [ (write [[] for a literal bracket)"),
        ("[", "an unclosed [ (write [[] for a literal bracket)"),
    ],
)
def test_glob_problems(glob: str, problem: str | None) -> None:
    assert glob_problem(glob) == problem


SEARCH_ONLY = JobMatch(suffix=("search-*",))
LAST = datetime(2026, 5, 1, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("watch", "health", "expected"),
    [
        # never polled: the first poll's own rule (first_run) applies, not this one
        (SEARCH_ONLY, ProviderHealth(), None),
        # the same filter as last time: nothing is quiet
        (SEARCH_ONLY, ProviderHealth(polled_once=True, last_success_at=LAST,
                                     watch=watch_mark(SEARCH_ONLY)), None),
        # still no filter (an older state file has no mark either)
        (JobMatch(), ProviderHealth(polled_once=True, last_success_at=LAST), None),
        # a filter set, changed, or removed: jobs created before the last poll are quiet
        (SEARCH_ONLY, ProviderHealth(polled_once=True, last_success_at=LAST), LAST),
        (JobMatch(suffix=("search-*", "x")), ProviderHealth(
            polled_once=True, last_success_at=LAST, watch=watch_mark(SEARCH_ONLY)), LAST),
        (JobMatch(), ProviderHealth(polled_once=True, last_success_at=LAST,
                                    watch=watch_mark(SEARCH_ONLY)), LAST),
    ],
)  # fmt: skip
def test_a_changed_filter_quiets_the_jobs_that_were_there(
    watch: JobMatch, health: ProviderHealth, expected: datetime | None
) -> None:
    assert quiet_before(watch, health) == expected
