"""`python -m tests.entry ARGS`: the real `ftmon` command with the test seams injected.

Production reads no test variable; the tests that run ftmon as a separate process start
it through this entry point, which turns their environment into `wiring.Seams`:

- `FTMON_NOW` (ISO-8601): the clock stands at that instant (the simulator's virtual time
  across separate processes);
- `FTMON_TEST_POLL_SECONDS`: the daemon polls every that many (fractional) seconds;
- `FTMON_MAX_PAGE_COUNT=N`: the state file may grow to N pages, then SQLite reports a full
  disk (`SQLITE_FULL`) where the suite cannot mount a small filesystem;
- `FTMON_CRASH_AFTER_STATEMENTS=N`: the process SIGKILLs itself at the Nth SQL statement,
  so a kill lands exactly between two statements;
- `FTMON_TEST_CLAIM_SECONDS`: a claimed delivery is invisible to other dispatchers for that
  many seconds instead of five minutes (the replica kill suite).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.app.wiring import Seams, system_clock
from monitor.cli import main
from monitor.storage.sqlite_file import plain_connect


def seams_from(env: Mapping[str, str]) -> Seams:
    """The seams a test asked for through its environment."""
    clock = system_clock
    if env.get("FTMON_NOW"):
        instant = datetime.fromisoformat(env["FTMON_NOW"])
        pinned = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
        clock = lambda: pinned  # noqa: E731
    poll = float(env["FTMON_TEST_POLL_SECONDS"]) if env.get("FTMON_TEST_POLL_SECONDS") else None
    pages = int(env.get("FTMON_MAX_PAGE_COUNT") or 0)
    crash_at = int(env.get("FTMON_CRASH_AFTER_STATEMENTS") or 0)
    claim = float(env.get("FTMON_TEST_CLAIM_SECONDS") or 0)

    def connect(path: Path, timeout: float) -> sqlite3.Connection:
        conn = plain_connect(path, timeout)
        if pages:
            conn.execute(f"PRAGMA max_page_count = {pages}")
        if crash_at:
            _crash_at_statement(conn, crash_at)
        return conn

    return Seams(
        clock=clock,
        poll_seconds=max(0.05, poll) if poll else None,
        connect=connect if pages or crash_at else None,
        claim_for=timedelta(seconds=claim) if claim else None,
    )


def _crash_at_statement(conn: sqlite3.Connection, limit: int) -> None:
    count = [0]

    def counted(_statement: str) -> None:
        count[0] += 1
        if count[0] >= limit:
            os.kill(os.getpid(), signal.SIGKILL)

    conn.set_trace_callback(counted)


if __name__ == "__main__":
    sys.exit(main(seams=seams_from(os.environ)))
