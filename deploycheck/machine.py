"""A booted container: systemd-nspawn with systemd as PID 1, reached with nsenter.

`--register=no --keep-unit` need no systemd on the host; `--private-network` gives the
container only its own loopback, where the simulator, the receiver and ftmon meet.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from deploycheck.host import CheckError, Owned, run, say
from deploycheck.results import wait_for
from deploycheck.tree import PATH


@dataclass
class Machine:
    root: Path
    nspawn: subprocess.Popen[bytes]
    leader: int

    def sh(self, command: str, *, check: bool = False) -> subprocess.CompletedProcess[str]:
        """`command` by /bin/sh inside the container (all of its namespaces), a clean env."""
        argv = ["nsenter", "-t", str(self.leader), "-a", "env", "-i", f"PATH={PATH}"]
        return run([*argv, "/bin/sh", "-c", command], check=check, timeout=180)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        done = self.sh(f"systemctl show {unit} -p {','.join(props)}", check=True)
        return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)

    def journal(self, unit: str) -> list[dict[str, str]]:
        """The journal entries the unit's own processes wrote (not systemd's about it)."""
        done = self.sh(f"journalctl --no-pager -o json _SYSTEMD_UNIT={unit}", check=True)
        entries = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return [e for e in entries if isinstance(e.get("MESSAGE"), str)]

    def journal_text(self, unit: str | None = None) -> str:
        which = f"-u {unit}" if unit else ""
        return self.sh(f"journalctl --no-pager -o cat {which}", check=True).stdout

    def file(self, path: str) -> Path:
        """A path inside the container, seen from the host (the overlay's merged view)."""
        return self.root / path.lstrip("/")


def boot(root: Path, owned: Owned) -> Machine:
    say("booting the tree with systemd-nspawn --boot")
    argv = ["systemd-nspawn", "--boot", "--private-network", "--register=no", "--keep-unit"]
    argv += ["--console=passive", "--quiet", "-D", str(root)]
    process = owned.start("systemd-nspawn", argv, owned.workdir / "nspawn.log")
    leader = _leader(process)
    machine = Machine(root=root, nspawn=process, leader=leader)
    states: list[str] = []

    def up() -> bool:  # its bus may not answer yet in the first instants: ask again
        states.append(machine.sh("systemctl is-system-running --wait").stdout.strip())
        return states[-1] in ("running", "degraded")

    if not wait_for(up, 120, step=1):
        raise CheckError(f"the container's systemd did not come up: {states[-3:]}")
    return machine


def _leader(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """The container's PID 1 as the host sees it: nspawn's child running systemd."""
    deadline = time.monotonic() + timeout
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CheckError(f"systemd-nspawn exited {process.returncode}")
        for pid in children.read_text().split() if children.exists() else []:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return int(pid)
            except OSError:
                continue
        time.sleep(0.2)
    raise CheckError("systemd did not start in the container")
