"""Settled jobs: kept as index entries, read whole only when asked, migrated from v3."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.core import plan
from monitor.core.memory import Condition, JobState, PollMarks, ProviderHealth, RestartLink
from monitor.core.model import ProviderKind, Status
from monitor.core.state_layout import FLAT_NAMES
from monitor.storage.sqlite import SqliteStore
from monitor.storage.sqlite_file import APPLICATION_ID, MIGRATIONS

NOW = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


def job(job_id: str, status: Status, **fields: object) -> JobState:
    state = JobState(
        provider="tg",
        job_id=job_id,
        kind=ProviderKind.TOGETHER,
        status=status,
        raw_status=str(status),
        created_at=NOW - timedelta(hours=1),
        marks=PollMarks(snapshot=f"mark-{job_id}"),
    )
    return replace(state, **fields)  # type: ignore[arg-type]


STATES = [
    job("running", Status.RUNNING),
    job("done", Status.SUCCEEDED),
    job("awaiting", Status.FAILED, restart=RestartLink(awaiting_since=NOW)),
    job("linked", Status.FAILED, restart=RestartLink(successor="ft-next")),
    job("stalled", Status.CANCELLED, conditions={"x": Condition(since=NOW, notified_at=NOW)}),
]


def test_only_settled_jobs_are_index_entries(tmp_path: Path) -> None:
    """A finished job with nothing left to alert is an index entry (raw status, mark,
    creation time); everything else stays whole; either reads back whole by id."""
    store = SqliteStore(tmp_path / "state.db")
    store.commit_poll("tg", STATES, ProviderHealth(polled_once=True), [], NOW)
    for view in (store.load_provider("tg"), SqliteStore(store.path).load_provider("tg")):
        assert set(view.states) == {"running", "awaiting", "linked", "stalled"}
        assert view.settled == {"done": plan.settled(STATES[1])}
        assert view.settled["done"] == plan.Settled(
            "succeeded", "mark-done", NOW - timedelta(hours=1)
        )
    assert store.load_jobs("tg", ["done", "running", "nowhere"]) == {
        "done": STATES[1],
        "running": STATES[0],
    }


def test_a_settled_job_that_moves_again_leaves_the_index(tmp_path: Path) -> None:
    """The cache follows a job across the line in both directions, as a reopen reads it."""
    store = SqliteStore(tmp_path / "state.db")
    store.commit_poll("tg", STATES, ProviderHealth(polled_once=True), [], NOW)
    store.load_provider("tg")  # the cache is live from here
    moved = replace(STATES[1], status=Status.RUNNING, raw_status="running")
    settled_now = replace(STATES[0], status=Status.SUCCEEDED, raw_status="completed")
    store.commit_poll("tg", [moved, settled_now], ProviderHealth(polled_once=True), [], NOW)
    view = store.load_provider("tg")
    assert "done" in view.states and "done" not in view.settled
    assert "running" in view.settled and "running" not in view.states
    assert SqliteStore(store.path).load_provider("tg") == view


def _flat(state: JobState) -> str:
    """`state` in the flat layout a version-3 file holds (`state_layout`)."""
    nested = json.loads(state.to_json())
    for group, names in FLAT_NAMES.items():
        for new, old in names.items():
            nested[old] = nested[group].get(new)
        del nested[group]
    return json.dumps(nested)


def test_a_version_3_file_gets_its_settled_index_from_the_json(tmp_path: Path) -> None:
    """Rows written before the index columns are filled from their (flat) JSON on
    migration, and read as today's nested states."""
    path = tmp_path / "v3.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    for script in MIGRATIONS[:3]:
        for statement in filter(str.strip, script.split(";")):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    for state in STATES:
        conn.execute(
            "INSERT INTO jobs VALUES ('tg', ?, ?, ?, ?, ?)",
            (state.job_id, str(state.status), int(state.status.terminal), "x", _flat(state)),
        )
    conn.close()
    fresh = tmp_path / "fresh.db"
    SqliteStore(fresh).commit_poll("tg", STATES, ProviderHealth(), [], NOW)
    assert SqliteStore(path).load_provider("tg") == SqliteStore(fresh).load_provider("tg")
