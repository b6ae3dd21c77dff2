"""`memory.evolve`: a record with changes, or the record itself when nothing changes, so a
quiet poll rebuilds nothing and `is` tells an unchanged state (`quiet`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.core.diff import absorb_snapshot, diff
from monitor.core.memory import PollMarks, Progress, evolve
from monitor.core.settings import Thresholds
from tests.core.factories import at, together

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("record", "changes", "same"),
    [
        # no change at all: the record itself
        (Progress(step=3), {}, True),
        # every change holds the value already there: the record itself
        (Progress(step=3, at=T0), {"step": 3, "at": T0}, True),
        # an equal value that is another object (a new datetime): still the record itself
        (Progress(at=T0), {"at": datetime(2026, 5, 4, 9, 0, tzinfo=UTC)}, True),
        # one value differs: a new record
        (Progress(step=3, at=T0), {"step": 3, "at": None}, False),
        # equal but of another type (1 == 1.0 is stored differently): a new record
        (Progress(step=1), {"step": 1.0}, False),
        # a default that changes: a new record
        (PollMarks(), {"losses_missing": 1}, False),
    ],
)
def test_evolve_gives_the_record_itself_only_when_nothing_changes(
    record: object, changes: dict[str, object], same: bool
) -> None:
    """Unchanged means equal and of the same type, field by field; the result always
    equals `dataclasses.replace`'s."""
    out = evolve(record, **changes)  # type: ignore[type-var]
    assert (out is record) is same
    assert all(getattr(out, name) == value for name, value in changes.items())


def test_a_snapshot_that_changes_nothing_gives_back_the_state_itself() -> None:
    """Folded at the time it was observed, the same snapshot rebuilds nothing; observed
    later, or with a new step, it makes a new state."""
    snapshot = together("running", updated_at=at(1), started_at=at(1))
    state, _ = diff(None, snapshot, (), at(2), Thresholds())
    assert absorb_snapshot(state, snapshot, at(2)) is state
    assert absorb_snapshot(state, snapshot, at(3)) is not state
    moved = together("running", updated_at=at(1), started_at=at(1), steps_completed=5)
    assert absorb_snapshot(state, moved, at(2)).progress.step == 5
