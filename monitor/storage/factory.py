"""Which store a config names: the SQLite file at `state`, or PostgreSQL for a
`postgresql://` state (imported only then, so a SQLite run never loads psycopg)."""

from __future__ import annotations

from monitor.core.settings import MonitorSettings
from monitor.storage.base import Store
from monitor.storage.sqlite import SqliteStore
from monitor.storage.sqlite_file import Connect


def open_store(
    monitor: MonitorSettings, *, connect: Connect | None = None, read_only: bool = False
) -> Store:
    """The store `monitor.state` names; `connect` opens a SQLite file (a test seam);
    `read_only` (PostgreSQL: `status` and `cost` open the SQLite file read-only themselves)
    checks the schema without creating or migrating it."""
    if monitor.database is None:
        return SqliteStore(monitor.state, connect=connect)
    from monitor.storage.postgresql import PgStore

    password = monitor.database_password
    secret = password.reveal() if password else None
    return PgStore(monitor.database, password=secret, read_only=read_only)


def describe_state(monitor: MonitorSettings) -> str:
    """The state as messages name it (a URL without its password, or the file)."""
    return monitor.database or str(monitor.state)
