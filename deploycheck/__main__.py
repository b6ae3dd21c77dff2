"""`python -m deploycheck` (`make deploy-check`, as root): ftmon deployed for real.

1. The Debian packages it needs (debootstrap, systemd-container, docker.io) are installed
   if missing; a Debian tree is built with debootstrap from this host's own apt mirror and
   cached under /var/cache/ftmon-deploy-check.
2. systemd: ftmon is installed into an overlay of the tree, which systemd-nspawn boots;
   the shipped units run there beside the simulator and a webhook receiver.
3. Docker: a private dockerd builds the Dockerfile and runs the image read-only with no
   capabilities beside the simulator and the receiver.

Every process it starts is stopped by its PID and every mount undone, pass or fail. The
last line is `deploy-check: N passed, M failed`; the exit status is 0 only if none failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from deploycheck import docker, host, machine, systemd, tree
from deploycheck.fixtures import Secrets
from deploycheck.host import CheckError, Owned, say
from deploycheck.results import Results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploycheck", description=__doc__)
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="the checkout to deploy")
    parser.add_argument("--only", choices=("systemd", "docker"), help="run one half")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("deploy-check: must run as root (systemd-nspawn, dockerd, mounts)", file=sys.stderr)
        return 2
    started = time.monotonic()
    results = Results()
    workdir = Path(tempfile.mkdtemp(prefix="ftmon-deploy-check-", dir="/var/tmp"))
    owned = Owned(workdir=workdir)
    try:
        _run(args.repo.resolve(), args.only, owned, results)
    except CheckError as exc:
        results.check("the check ran to its end", False, str(exc))
    finally:
        owned.release()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    say(f"took {time.monotonic() - started:.0f} s")
    print(results.closing_line(), flush=True)
    return 0 if not results.failed else 1


def _run(repo: Path, only: str | None, owned: Owned, results: Results) -> None:
    host.ensure_packages()
    mirror = host.debian_mirror()
    base = tree.base_tree(mirror)
    keys = Secrets.fresh()
    if only in (None, "systemd"):
        wheels = tree.wheelhouse(repo, owned.workdir / "wheels")
        root = tree.overlay(base, owned, "systemd")
        tree.install_ftmon(root, wheels)
        systemd.lay_out(root, repo, keys)
        booted = machine.boot(root, owned)
        try:
            systemd.run_all(booted, keys, results)
        finally:
            owned.stop(booted.nspawn)
    if only in (None, "docker"):
        engine = docker.Engine(owned)
        try:
            for image in docker.base_images(repo / "Dockerfile"):
                if not engine.has_image(image):
                    docker.stand_in(engine, image, base, mirror.suite, owned)
            docker.run_all(engine, repo, keys, owned, results)
        finally:
            owned.stop(engine.process)


if __name__ == "__main__":
    sys.exit(main())
