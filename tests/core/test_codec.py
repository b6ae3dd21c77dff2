"""The state records' JSON codec: driven by the declared types, so nothing comes back as text."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import pytest

from monitor.core import codec
from monitor.core.memory import (
    Condition,
    Fact,
    JobState,
    LossMemory,
    PollMarks,
    Progress,
    ProviderHealth,
    RestartLink,
    Signal,
)
from monitor.core.model import ProviderKind, Status

T0 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Inner:
    at: datetime
    status: Status = Status.QUEUED


@dataclass(frozen=True, slots=True, kw_only=True)
class NewRecord:
    """A record as a future change might add it: nested, with a datetime nobody listed."""

    first_seen: datetime
    maybe_at: datetime | None = None
    inners: tuple[Inner, ...] = ()
    by_name: Mapping[str, Inner] = field(default_factory=dict)
    words: frozenset[str] = frozenset()
    pair: tuple[str, datetime] | None = None
    loss: float = 0.0
    wait: timedelta = timedelta(0)
    opens: time | None = None


def test_a_new_nested_datetime_field_comes_back_as_a_datetime() -> None:
    """No list of field names: every datetime, enum and nested record returns typed."""
    record = NewRecord(
        first_seen=T0,
        maybe_at=T0,
        inners=(Inner(at=T0, status=Status.RUNNING),),
        by_name={"a": Inner(at=T0)},
        words=frozenset({"b", "a"}),
        pair=("x", T0),
        loss=math.inf,
        wait=timedelta(seconds=90.5),
        opens=time(22, 30),
    )
    back = codec.loads(NewRecord, codec.dumps(record))
    assert back == record
    assert isinstance(back.inners[0].at, datetime)
    assert isinstance(back.by_name["a"].status, Status)
    assert isinstance(back.pair and back.pair[1], datetime)


def test_a_nan_loss_round_trips_and_an_older_null_reads_as_nan() -> None:
    """JSON has no NaN: it is written as a word; older files wrote null."""
    state = _state(loss=LossMemory(recent=(1.0, math.nan)))
    back = JobState.from_json(state.to_json())
    assert back.loss.recent[0] == 1.0
    assert math.isnan(back.loss.recent[1])
    older = state.to_json().replace('"nan"', "null")
    assert math.isnan(JobState.from_json(older).loss.recent[1])


def test_fields_of_a_newer_version_are_dropped() -> None:
    """A file written by a newer ftmon still loads: unknown fields are ignored."""
    text = ProviderHealth(polled_once=True).to_json()[:-1] + ',"from_the_future":1}'
    assert ProviderHealth.from_json(text) == ProviderHealth(polled_once=True)


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("created_at", 12),  # a datetime that is not text
        ("status", "exploded"),  # a status word nobody knows
        ("facts", "started"),  # a set that is not a list
        ("pauses", "7"),  # an int that is text
        ("signals", ["a word nobody knows"]),
    ],
)
def test_a_value_of_the_wrong_type_is_an_error(field_name: str, value: object) -> None:
    """The store turns this into 'cannot read the state database', never a half-read state."""
    plain = codec.encode(_state())
    assert isinstance(plain, dict)
    plain[field_name] = value
    with pytest.raises(ValueError, match=r"expected|not a valid|none of"):
        codec.decode(JobState, plain)


def test_a_full_job_state_round_trips() -> None:
    """Every kind of field the diff engine keeps survives storage unchanged."""
    state = _state(
        status_path=(("queued", T0), ("running", T0)),
        facts=frozenset({Fact.STARTED, Fact.REFUNDED}),
        pauses=1,
        signals=frozenset({Signal.CANCEL}),
        conditions={"queue_stall": Condition(since=T0, notified_at=T0, reminders=2)},
        progress=Progress(eta=T0, step=3),
        loss=LossMemory(spiked_steps=frozenset({"12"})),
        restart=RestartLink(of="ft-0"),
        marks=PollMarks(log_read_at=T0, losses_missing=2),
        price_usd=1.5,
    )
    assert JobState.from_json(state.to_json()) == state


def _state(**changes: object) -> JobState:
    base: dict[str, object] = {
        "provider": "p",
        "job_id": "ft-1",
        "kind": ProviderKind.TOGETHER,
        "status": Status.RUNNING,
        "raw_status": "running",
        "created_at": T0,
    }
    return JobState(**{**base, **changes})  # type: ignore[arg-type]
