"""`plan.nudged_unknown`: which job ids a webhook named must a poll retrieve (pure)."""

from __future__ import annotations

import pytest

from monitor.core import plan
from monitor.core.diff import diff
from monitor.core.settings import Thresholds
from tests.core.factories import at, openai

TRACKED = diff(None, openai("running", job_id="ftjob-known"), [], at(0), Thresholds())[0]


@pytest.mark.parametrize(
    ("nudged", "listed", "jobs", "followed", "expected"),
    [
        # unknown and not in the list: retrieve it
        ({"ftjob-new"}, set(), (), frozenset(), ["ftjob-new"]),
        # already in the list: the poll reads it from there
        ({"ftjob-new"}, {"ftjob-new"}, (), frozenset(), []),
        # tracked: the poll retrieves unfinished tracked jobs anyway
        ({"ftjob-known"}, set(), (), frozenset(), []),
        # a jobs list that does not name it: not ours to watch
        ({"ftjob-new"}, set(), ("ftjob-other",), frozenset({"ftjob-other"}), []),
        # a jobs list that names it (or a restart it led to): retrieve it
        ({"ftjob-new"}, set(), ("ftjob-new",), frozenset({"ftjob-new"}), ["ftjob-new"]),
        # several, in a stable order
        ({"ftjob-b", "ftjob-a"}, set(), (), frozenset(), ["ftjob-a", "ftjob-b"]),
    ],
)
def test_nudged_unknown(
    nudged: set[str],
    listed: set[str],
    jobs: tuple[str, ...],
    followed: frozenset[str],
    expected: list[str],
) -> None:
    """Only watched jobs that neither the store nor the list already covers."""
    states = {TRACKED.job_id: TRACKED}
    assert plan.nudged_unknown(nudged, states, dict.fromkeys(listed), jobs, followed) == expected


def test_nudged_jobs_for_a_narrow_poll() -> None:
    """A narrow poll retrieves the tracked jobs named and the watched unknown ones."""
    states = {TRACKED.job_id: TRACKED}
    nudged = {"ftjob-known", "ftjob-new"}
    both = ["ftjob-known", "ftjob-new"]
    assert plan.nudged_jobs(nudged, states, states, (), frozenset()) == both
    followed = frozenset({"ftjob-known"})
    assert plan.nudged_jobs(nudged, states, states, ("ftjob-known",), followed) == ["ftjob-known"]
    assert plan.nudged_jobs(nudged, {}, states, (), frozenset()) == ["ftjob-new"]  # parked
