"""The SQLite state file on real files: private, ours only, and never downgraded."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from monitor.core.errors import NotAStateFile, StoreError
from monitor.storage.sqlite import SqliteStore


def test_state_file_and_directory_are_private(tmp_path: Path) -> None:
    """A new state directory is 0700 and the database 0600."""
    path = tmp_path / "new" / "dir" / "state.db"
    SqliteStore(path).close()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_foreign_database_is_never_touched(tmp_path: Path) -> None:
    """Another program's SQLite file at the state path is refused, byte for byte intact."""
    path = tmp_path / "theirs.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an ftmon state database"):
        SqliteStore(path)
    assert path.read_bytes() == before


def test_non_database_file_is_refused(tmp_path: Path) -> None:
    """A file that is not SQLite at all gives a clear error."""
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n" * 200)
    with pytest.raises(StoreError, match=r"notes\.txt"):
        SqliteStore(path)
    assert path.read_text().startswith("shopping list")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A file written by a newer ftmon is not downgraded."""
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this ftmon"):
        SqliteStore(path)


def test_a_read_only_open_creates_and_adopts_nothing(tmp_path: Path) -> None:
    """`ftmon status` reads: a missing path stays missing, an empty file is not made ours."""
    missing = tmp_path / "typo" / "state.db"
    with pytest.raises(NotAStateFile, match="no ftmon state file here"):
        SqliteStore(missing, read_only=True)
    assert not missing.parent.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(NotAStateFile, match="not an ftmon state database"):
        SqliteStore(empty, read_only=True)
    assert empty.read_bytes() == b""


def test_a_read_only_open_leaves_an_older_schema_as_it_is(tmp_path: Path) -> None:
    """Only a writer migrates: reading a file of an older ftmon leaves its version."""
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    SqliteStore(path, read_only=True).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
