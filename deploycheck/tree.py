"""The Debian tree both halves start from: built once with debootstrap, then cached.

The cached tree is never changed: each run mounts an overlay on it and installs ftmon
into the overlay, from wheels built on the host from the checkout, exactly as
docs/operations.md installs it (a virtual environment in /opt/ftmon, a link in
/usr/local/bin). The tree trusts the same certificate authorities as the host.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

from deploycheck.host import Mirror, Owned, local_ca_certificates, run, say

CACHE = Path("/var/cache/ftmon-deploy-check")
# systemd as PID 1 (and its nss module for DynamicUser names), Python with venv for ftmon.
# procps is left out on purpose: the units must not need it.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "libnss-systemd", "python3", "python3-venv")
PACKAGES_ALSO = ("ca-certificates", "passwd")
LAYOUT_VERSION = "1"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def base_tree(mirror: Mirror, cache: Path = CACHE) -> Path:
    """The cached debootstrap tree for `mirror`'s suite, made now if there is none."""
    include = ",".join(PACKAGES + PACKAGES_ALSO)
    key = hashlib.sha256(f"{LAYOUT_VERSION}|{mirror.suite}|{include}".encode()).hexdigest()[:12]
    tree = cache / f"{mirror.suite}-{key}"
    if (tree / "usr/lib/systemd/systemd").exists():
        say(f"Debian tree: cached at {tree}")
        return tree
    partial = cache / f"{tree.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    say(f"Debian tree: debootstrap {mirror.suite} (about a minute; cached for later runs)")
    argv = ["debootstrap", "--variant=minbase", f"--include={include}", mirror.suite]
    run([*argv, str(partial), mirror.uri], timeout=900)
    partial.rename(tree)
    return tree


def overlay(base: Path, owned: Owned, name: str) -> Path:
    """A writable view of `base` under the work directory; the base stays untouched."""
    top = owned.workdir / name
    upper, work, merged = top / "upper", top / "work", top / "root"
    for d in (upper, work, merged):
        d.mkdir(parents=True)
    options = f"lowerdir={base},upperdir={upper},workdir={work}"
    owned.mount(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], merged)
    return merged


def wheelhouse(repo: Path, dest: Path) -> Path:
    """ftmon and every dependency as wheels, built by this host's pip (its own index config)."""
    say("building wheels of the checkout")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest), str(repo)])
    return dest


def trust_host_cas(root: Path) -> None:
    """Copy the host's locally added CA certificates in; `update-ca-certificates` runs later."""
    target = root / "usr/local/share/ca-certificates"
    target.mkdir(parents=True, exist_ok=True)
    for cert in local_ca_certificates():
        shutil.copy2(cert, target / cert.name)


def install_ftmon(root: Path, wheels: Path) -> None:
    """ftmon into /opt/ftmon inside `root`, offline, with the tree's own Python."""
    trust_host_cas(root)
    inside = root / "var/tmp/ftmon-wheels"
    shutil.copytree(wheels, inside)
    script = (
        "set -e; update-ca-certificates >/dev/null; python3 -m venv /opt/ftmon; "
        "/opt/ftmon/bin/pip install --quiet --no-index --find-links /var/tmp/ftmon-wheels ftmon; "
        "ln -sf /opt/ftmon/bin/ftmon /usr/local/bin/ftmon; rm -rf /var/tmp/ftmon-wheels"
    )
    say("installing ftmon into the tree (/opt/ftmon, as docs/operations.md does)")
    in_tree(root, ["/bin/sh", "-c", script])


def in_tree(root: Path, argv: list[str]) -> str:
    """Run a command in `root` without booting it (no network: the tree needs none)."""
    nspawn = ["systemd-nspawn", "--quiet", "--pipe", "--register=no", "--keep-unit"]
    nspawn += ["--private-network", f"--setenv=PATH={PATH}", "-D", str(root)]
    return run([*nspawn, *argv]).stdout
