"""Property: whatever values a provider puts in a job it understands (extreme numbers,
times at either end of the calendar, lone surrogates), the parsed snapshot can be diffed,
diffed again later, stored and rendered: the range checks at the boundary leave nothing
that crashes the core."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from monitor.core.errors import ProviderSchemaError
from monitor.core.provider_poll import PolledJob, diff_provider
from monitor.core.render import render
from monitor.core.settings import Thresholds
from monitor.providers import openai as oa
from monitor.providers import together as tg
from monitor.providers._fields import clean

NOW = datetime(2026, 3, 16, 10, 0, tzinfo=UTC)

extreme = (
    st.integers(min_value=-(2**80), max_value=2**80)
    | st.sampled_from([0, 1, -1, 2**53, 10**30, -(10**30)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e12, 1e300, -1e12, 5e-324])
)
times = st.sampled_from(
    ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-03-16T09:00:00Z", "1970-01-01T00:00:00Z"]
)
words = st.text(max_size=8) | st.sampled_from(["ft-\ud800", "\u2028kind=x", "\x1b[2J"])

TOGETHER_NUMBERS = ("n_epochs", "epochs_completed", "steps_completed", "total_steps",
                    "queue_depth", "total_price")  # fmt: skip
TOGETHER_TIMES = ("created_at", "updated_at", "started_at")
OPENAI_NUMBERS = ("created_at", "finished_at", "estimated_finish", "trained_tokens")


def together_job(draw: st.DrawFn) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": draw(words.filter(bool)),
        "status": draw(st.sampled_from(["running", "queued", "completed", "error", "x"])),
    }
    job.update({k: draw(times | extreme) for k in TOGETHER_TIMES})
    job["created_at"] = draw(st.sampled_from(["2026-03-16T09:00:00Z", job["created_at"]]))
    job.update({k: draw(extreme) for k in TOGETHER_NUMBERS})
    job["model"] = draw(words)
    job["progress"] = {"estimate_available": True, "seconds_remaining": draw(extreme)}
    job["events"] = [
        {"created_at": draw(times), "type": draw(words), "message": draw(words),
         "step": draw(extreme), "total_steps": draw(extreme)}
    ]  # fmt: skip
    return job


def openai_job(draw: st.DrawFn) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": draw(words.filter(bool)),
        "status": draw(st.sampled_from(["running", "queued", "succeeded", "failed", "x"])),
        "model": draw(words),
        "hyperparameters": {"n_epochs": draw(extreme)},
    }
    job.update({k: draw(extreme) for k in OPENAI_NUMBERS})
    job["created_at"] = draw(st.sampled_from([1773651600, job["created_at"]]))
    return job


@st.composite
def snapshots(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        raw = together_job(draw)
        parse = tg.parse_job
    else:
        raw = openai_job(draw)
        parse = oa.parse_job
    decoded = clean(json.loads(json.dumps(raw)))  # the wire, and the boundary's cleaning
    try:
        return parse(decoded, "p")
    except ProviderSchemaError:  # unusable (any other exception fails the test)
        return None


@given(snapshot=snapshots(), later=st.sampled_from([0, 60, 86_400, 400 * 86_400]))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_understood_job_diffs_stores_and_renders(snapshot: Any, later: int) -> None:
    if snapshot is None:
        return
    event("understood")
    thresholds = Thresholds()
    states, alerts = diff_provider({}, [PolledJob(snapshot=snapshot)], NOW, thresholds)
    again = NOW + timedelta(seconds=later)
    known = {s.job_id: s for s in states}
    states2, alerts2 = diff_provider(known, [PolledJob(snapshot=snapshot)], again, thresholds)
    for state in [*states, *states2]:
        state.to_json().encode("utf-8")
    for alert in [*alerts, *alerts2]:
        alert.to_json().encode("utf-8")
        message = render([alert], "markdown", 4000, 250)
        assert len(message.title.splitlines()) == 1
        message.body.encode("utf-8")
