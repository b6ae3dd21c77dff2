"""The SQLite store on real files: one transaction per poll, and what it keeps it keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.alerts import Alert
from monitor.core.diff import diff
from monitor.core.errors import StoreError
from monitor.core.memory import JobState, ProviderHealth
from monitor.core.settings import Thresholds
from monitor.storage.sqlite import SqliteStore
from monitor.storage.sqlite_file import APPLICATION_ID
from tests.core.factories import at, event, together

TH = Thresholds()


def failed_job() -> tuple[JobState, list[Alert]]:
    start = event("job_start", "Job started", 1)
    error = event("job_error", "Hardware failure", 40)
    return diff(None, together("error"), [start, error], at(41), TH)


def test_commit_poll_writes_state_health_and_alerts(tmp_path: Path) -> None:
    """States, health and alerts land together and read back."""
    store = SqliteStore(tmp_path / "state.db")
    state, alerts = failed_job()
    health = ProviderHealth(polled_once=True, last_success_at=at(41))
    enqueued = store.commit_poll("together-prod", [state], health, alerts, at(41))
    assert [a.kind for a in enqueued] == [a.kind for a in alerts]
    view = store.load_provider("together-prod")
    assert store.load_jobs("together-prod", [state.job_id]) == {state.job_id: state}
    assert view.health == health
    assert [a.dedup_key for a in store.outbox_alerts()] == [a.dedup_key for a in alerts]
    store.close()


def test_an_alert_is_enqueued_once(tmp_path: Path) -> None:
    """The outbox's dedup key keeps a replayed commit from enqueuing twice."""
    store = SqliteStore(tmp_path / "state.db")
    state, alerts = failed_job()
    store.commit_poll("together-prod", [state], ProviderHealth(), alerts, at(41))
    again = store.commit_poll("together-prod", [state], ProviderHealth(), alerts, at(42))
    assert again == []
    assert len(store.outbox_alerts()) == len(alerts)
    store.close()


def test_failed_commit_leaves_nothing(tmp_path: Path) -> None:
    """A failure inside the transaction rolls back states and alerts alike."""
    store = SqliteStore(tmp_path / "state.db")
    state, alerts = failed_job()
    store.connection.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    with pytest.raises(StoreError, match="could not record the poll"):
        store.commit_poll("together-prod", [state], ProviderHealth(), alerts, at(41))
    assert store.load_provider("together-prod").states == {}
    store.close()


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    """State persists across processes (here: store instances) on the same file."""
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    state, alerts = failed_job()
    store.commit_poll("together-prod", [state], ProviderHealth(polled_once=True), alerts, at(41))
    store.close()
    again = SqliteStore(path)
    assert again.load_jobs("together-prod", [state.job_id])[state.job_id].facts == state.facts
    assert again.connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    again.close()
