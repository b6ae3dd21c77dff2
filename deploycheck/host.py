"""The host side: commands, the Debian packages the check needs, and owned processes and mounts.

Everything the check starts is registered here and stopped by its own PID at the end;
every mount it makes, and any that its processes leave under its work directory, is
unmounted. Nothing is found or killed by name.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The command each Debian package brings; a missing command means its package is installed.
PACKAGES = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "dockerd": "docker.io",
    "nsenter": "util-linux",
}
POLICY_RC = Path("/usr/sbin/policy-rc.d")


class CheckError(RuntimeError):
    """A step the rest of the check depends on failed."""


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 600,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=dict(env) if env is not None else None,
        input=input_text,
    )
    if check and done.returncode != 0:
        shown = " ".join(argv)[:200]
        raise CheckError(f"{shown} exited {done.returncode}: {(done.stderr or done.stdout)[-800:]}")
    return done


def say(text: str) -> None:
    print(f"[deploy-check] {text}", flush=True)


def ensure_packages() -> None:
    """apt-get install what is missing; services the packages ship are not started."""
    missing = sorted({pkg for cmd, pkg in PACKAGES.items() if shutil.which(cmd) is None})
    if not missing:
        return
    say(f"installing {' '.join(missing)}")
    guard = not POLICY_RC.exists()
    if guard:  # invoke-rc.d must not start the host's docker.service on our behalf
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC.chmod(0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        run(["apt-get", "update", "-q"], env=env)
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)
    finally:
        if guard:
            POLICY_RC.unlink()


@dataclass(frozen=True, slots=True)
class Mirror:
    uri: str
    suite: str


def debian_mirror(etc: Path = Path("/etc")) -> Mirror:
    """The Debian mirror and suite this host's own apt configuration uses for `main`."""
    release = _os_release(etc / "os-release")
    codename = release.get("VERSION_CODENAME", "")
    if release.get("ID") != "debian" or not codename:
        raise CheckError("the deployment check builds its trees from a Debian host's apt sources")
    for uri, suites, components in _apt_sources(etc / "apt"):
        if codename in suites and "main" in components:
            return Mirror(uri=uri, suite=codename)
    raise CheckError(f"no apt source for {codename} main in {etc / 'apt'}")


def _os_release(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value.strip().strip('"') for key, value in pairs}


def _apt_sources(apt: Path) -> list[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) of every `deb` source, one-line and deb822 formats."""
    found: list[tuple[str, list[str], list[str]]] = []
    lists = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for path in (p for p in lists if p.is_file()):
        for line in path.read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()  # drop [options]
            if len(words) >= 4 and words[0] == "deb":
                found.append((words[1], [words[2]], words[3:]))
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = _deb822(stanza)
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                suites, components = fields.get("suites", "").split(), fields.get("components", "")
                for uri in fields.get("uris", "").split():
                    found.append((uri, suites, components.split()))
    return found


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[:1].isspace():
            continue
        key, value = line.split(":", 1)
        fields[key.strip().lower()] = value.strip()
    return fields


def local_ca_certificates() -> list[Path]:
    """The CA certificates this host's administrator added (update-ca-certificates' input)."""
    return sorted(Path("/usr/local/share/ca-certificates").rglob("*.crt"))


@dataclass
class Owned:
    """The processes and mounts this run made; `release` undoes them, newest first."""

    workdir: Path
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    mounts: list[Path] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as sink:
            process = subprocess.Popen(
                list(argv), stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.processes.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 60) -> int:
        """SIGTERM to this PID, SIGKILL to it if it has not exited within `timeout`."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)
        self.processes = [(n, p) for n, p in self.processes if p is not process]
        return process.returncode

    def mount(self, argv: Sequence[str], target: Path) -> None:
        run(argv)
        self.mounts.append(target)

    def release(self) -> None:
        for _name, process in reversed(list(self.processes)):
            self.stop(process)
        for target in [*reversed(self.mounts), *self._leftover_mounts()]:
            _unmount(target)
        self.mounts.clear()

    def _leftover_mounts(self) -> list[Path]:
        """Mounts under the work directory that a stopped process left behind, deepest first."""
        root = str(self.workdir.resolve())
        found = []
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target == root or target.startswith(root + "/"):
                found.append(Path(target))
        return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _unmount(target: Path) -> None:
    for _ in range(10):
        if run(["umount", str(target)], check=False).returncode == 0 or not _mounted(target):
            return
        time.sleep(0.5)
    run(["umount", "--lazy", str(target)], check=False)


def _mounted(target: Path) -> bool:
    text = Path("/proc/self/mounts").read_text()
    return any(line.split()[1] == str(target) for line in text.splitlines())
