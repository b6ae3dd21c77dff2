"""A throwaway PostgreSQL server for the tests: `initdb` + `pg_ctl` in a temporary directory.

It listens on a free loopback port and a unix socket in its own directory, never on the
machine's own server. initdb refuses to run as root, so under root the server runs as
`nobody` (its directory handed over first). `stop()` / `start()` let the reliability
suite take the database away mid-run and give it back on the same port and data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from glob import glob
from pathlib import Path

SKIP_REASON = (
    "no PostgreSQL server binaries (initdb, pg_ctl): `make check` installs the postgresql "
    "package when run as root; elsewhere install it"
)


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl (the newest Debian one, else the PATH)."""
    for candidate in sorted(glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One cluster in a temp dir; `url` is its DSN as ftmon's `state` setting takes it."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="ftmon-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = "ftmon"
        self._as_other = os.geteuid() == 0
        os.chmod(self.root, 0o755)
        if self._as_other:
            shutil.chown(self.root, "nobody")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "ftmon")

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/ftmon"

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c fsync=off "
            f"-c unix_socket_directories={self.root} -c max_connections=60"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-l", str(self.log), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def create_database(self, name: str) -> str:
        """A fresh empty database on this server; its URL."""
        port = str(self.port)
        self._run("createdb", "-h", "127.0.0.1", "-p", port, "-U", self.user, name)
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self._as_other:
            command = ["runuser", "-u", "nobody", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.root, timeout=120)
