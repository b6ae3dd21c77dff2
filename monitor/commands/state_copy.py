"""`ftmon state copy --from FILE`: the SQLite state file into the PostgreSQL state the
config names, so a single ftmon can become several replicas without alerting anything
twice (`storage.pg_copy` says what is copied and what is refused)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from monitor.core.errors import ConfigError
from monitor.core.settings import Config
from monitor.storage.pg_copy import copy_state
from monitor.storage.postgresql import PgStore
from monitor.storage.sqlite import SqliteStore


def main(config: Config, source: Path, out: TextIO = sys.stdout) -> int:
    m = config.monitor
    if m.database is None:
        raise ConfigError(
            str(config.file),
            "monitor.state",
            'expected a postgresql:// state to copy into (state = "postgresql://user@host/db")',
        )
    if not source.is_file():
        raise ConfigError(str(config.file), "", f"--from {source}: no state file there")
    sqlite = SqliteStore(source, read_only=True)
    try:
        password = m.database_password.reveal() if m.database_password else None
        target = PgStore(m.database, password=password)
        try:
            counts = copy_state(sqlite, target)
        finally:
            target.close()
    finally:
        sqlite.close()
    copied = ", ".join(f"{n} {table}" for table, n in counts.items())
    print(f"copied {source} into {m.database}: {copied}", file=out)
    return 0
