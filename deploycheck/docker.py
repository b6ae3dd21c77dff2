"""The Docker half: the Dockerfile built and run by a real, private Docker engine.

The engine is this run's own `dockerd` (its own data root, socket and pid file under the
work directory, no bridge, no iptables), stopped by its PID at the end. No image
registry is contacted: a base image the Dockerfile names that the engine does not have
is replaced by a stand-in of the same name made from the cached Debian tree (Debian's
Python in a virtual environment at /usr/local, as the official image lays it out), which
trusts the host's CA certificates. The build itself reaches the package index through
the host's network. The simulator, a receiver and ftmon share one network namespace
with nothing but a loopback (`--network=none`, then `--network=container:`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from deploycheck import fixtures
from deploycheck.fixtures import Secrets
from deploycheck.host import CheckError, Owned, local_ca_certificates, run, say
from deploycheck.results import Results, events, non_json, wait_for

IMAGE = "ftmon-deploy-check/ftmon:test"
SIM, RECEIVER, FTMON = "ftmon-check-sim", "ftmon-check-receiver", "ftmon-check"
HEALTH = ["--health-interval=2s", "--health-timeout=2s", "--health-retries=2"]


class Engine:
    """A private dockerd and a client bound to it."""

    def __init__(self, owned: Owned) -> None:
        self.dir = owned.workdir / "docker"
        self.dir.mkdir()
        (self.dir / "daemon.json").write_text("{}\n")
        self.socket = f"unix://{self.dir}/docker.sock"
        client = Path("/usr/bin/docker")  # the engine's own client (docker.io)
        self.client = str(client) if client.exists() else "docker"
        argv = ["dockerd", f"--config-file={self.dir}/daemon.json", f"--host={self.socket}"]
        argv += [f"--data-root={self.dir}/root", f"--exec-root={self.dir}/exec"]
        argv += [f"--pidfile={self.dir}/dockerd.pid", "--bridge=none", "--iptables=false"]
        argv += ["--ip-forward=false", "--ip-masq=false", "--log-level=warn"]
        say("docker: starting a private dockerd")
        self.process = owned.start("dockerd", argv, self.dir / "dockerd.log")
        if not wait_for(lambda: self.docker("version", check=False).returncode == 0, 60):
            raise CheckError(f"dockerd did not answer; see {self.dir / 'dockerd.log'}")

    def docker(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return run([self.client, "--host", self.socket, *args], check=check, timeout=timeout)

    def has_image(self, name: str) -> bool:
        return self.docker("image", "inspect", name, check=False).returncode == 0


def base_images(dockerfile: Path) -> list[str]:
    """The images the Dockerfile's stages start FROM (not its own stage names)."""
    stages: set[str] = set()
    bases: list[str] = []
    for line in dockerfile.read_text().splitlines():
        found = re.match(r"\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if not found:
            continue
        image, stage = found.group(1), found.group(2)
        if image not in stages and image not in bases:
            bases.append(image)
        if stage:
            stages.add(stage)
    return bases


def stand_in(engine: Engine, name: str, tree: Path, suite: str, owned: Owned) -> None:
    """`name`, made from the Debian tree, for an engine that cannot pull it."""
    say(f"docker: no registry here; making a stand-in {name} from Debian's packages")
    debian = f"ftmon-deploy-check/debian:{suite}"
    if not engine.has_image(debian):
        tar = subprocess.Popen(["tar", "-C", str(tree), "-c", "."], stdout=subprocess.PIPE)
        cmd = [engine.client, "--host", engine.socket, "import", "-", debian]
        done = subprocess.run(cmd, stdin=tar.stdout, capture_output=True, check=False)
        tar.wait()
        if done.returncode != 0 or tar.returncode != 0:
            raise CheckError(f"docker import failed: {done.stderr.decode()[-300:]}")
    context = owned.workdir / "stand-in"
    (context / "ca").mkdir(parents=True)
    for cert in local_ca_certificates():
        shutil.copy2(cert, context / "ca" / cert.name)
    shutil.copy2(Path(__file__).parent / "files/stand-in.Dockerfile", context / "Dockerfile")
    engine.docker(
        "build",
        "--quiet",
        "--network=none",
        "--build-arg",
        f"DEBIAN={debian}",
        "-t",
        name,
        str(context),
    )


def run_all(engine: Engine, repo: Path, keys: Secrets, owned: Owned, results: Results) -> None:
    say("docker: building the image from the Dockerfile")
    started = time.monotonic()
    engine.docker("build", "--quiet", "--network=host", "-t", IMAGE, str(repo), timeout=900)
    say(f"docker: image built in {time.monotonic() - started:.0f} s")
    ident = engine.docker("run", "--rm", "--network=none", "--entrypoint", "id", IMAGE).stdout
    results.check(
        "the image's user and group agree (uid and gid 10001, both named ftmon)",
        ident.strip() == "uid=10001(ftmon) gid=10001(ftmon) groups=10001(ftmon)",
        ident.strip(),
    )
    out = owned.workdir / "received"
    out.mkdir()
    config = owned.workdir / "sidecar.toml"
    config.write_text(fixtures.checked_config(repo / "deploy/sidecar/ftmon.toml"))
    config.chmod(0o644)
    try:
        _start(engine, keys, config, out)
        _health(engine, results)
        _stop_drains(engine, out / "received.jsonl", results)
        _logs(engine, keys, results)
    finally:
        engine.docker("rm", "--force", FTMON, RECEIVER, SIM, check=False)


def _start(engine: Engine, keys: Secrets, config: Path, out: Path) -> None:
    say("docker: simulator, receiver and ftmon (read-only, no capabilities) in one netns")
    python = ["--entrypoint", "python", IMAGE]
    engine.docker(
        "run", "-d", "--name", SIM, "--network=none", "--read-only", *python, *keys.simulator_args()
    )
    receiver = Path(__file__).parent / "files/receiver.py"
    engine.docker(
        "run",
        "-d",
        "--name",
        RECEIVER,
        f"--network=container:{SIM}",
        "--user=0",
        "-v",
        f"{receiver}:/check/receiver.py:ro",
        "-v",
        f"{out}:/out",
        *python,
        "/check/receiver.py",
        str(fixtures.RECEIVER_PORT),
        "/out/received.jsonl",
    )
    engine.docker(
        "run",
        "-d",
        "--name",
        FTMON,
        f"--network=container:{SIM}",
        "--read-only",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        "--stop-timeout=45",
        "-v",
        "ftmon-check-state:/var/lib/ftmon",
        "-v",
        f"{config}:/etc/ftmon/ftmon.toml:ro",
        "-e",
        f"TOGETHER_API_KEY={keys.together_key}",
        "-e",
        f"SLACK_WEBHOOK_URL={keys.hook_url}",
        *HEALTH,
        "--health-start-period=60s",
        IMAGE,
    )


def _health_is(engine: Engine, status: str) -> bool:
    done = engine.docker("inspect", "-f", "{{.State.Health.Status}}", FTMON, check=False)
    return done.stdout.strip() == status


def _health(engine: Engine, results: Results) -> None:
    healthy = wait_for(lambda: _health_is(engine, "healthy"), 90, step=1)
    results.check("HEALTHCHECK turns healthy", healthy, _inspect(engine))
    engine.docker("kill", "--signal=SIGSTOP", FTMON)
    unhealthy = wait_for(lambda: _health_is(engine, "unhealthy"), 60, step=1)
    results.check("SIGSTOP: HEALTHCHECK turns unhealthy", unhealthy, _inspect(engine))
    engine.docker("kill", "--signal=SIGCONT", FTMON)
    again = wait_for(lambda: _health_is(engine, "healthy"), 60, step=1)
    results.check("SIGCONT: healthy again", again, _inspect(engine))


def _stop_drains(engine: Engine, received: Path, results: Results) -> None:
    raised = wait_for(lambda: any(e.get("alerts") for e in _events(engine, "poll_completed")), 60)
    before = fixtures.labels(received)
    results.check(
        "alerts raised and held by group_wait before stop",
        raised and not before,
        f"{len(before)} received before stop",
    )
    engine.docker("stop", FTMON, timeout=120)
    code = engine.docker("inspect", "-f", "{{.State.ExitCode}}", FTMON).stdout.strip()
    after = fixtures.labels(received)
    drained = _events(engine, "outbox_drained")
    results.check(
        "docker stop: exit 0, outbox drained to the receiver",
        code == "0" and bool(after) and bool(drained),
        f"exit {code}, {len(after)} alerts delivered at stop",
    )


def _logs(engine: Engine, keys: Secrets, results: Results) -> None:
    lines = _log_lines(engine)
    bad = non_json(lines)
    results.check(
        "every container log line is one JSON object",
        bool(lines) and not bad,
        f"{len(lines)} lines; not JSON: {bad[:3]}",
    )
    text = "\n".join(lines)
    results.check("no secret in the container's logs", not any(v in text for v in keys.values()))


def _log_lines(engine: Engine) -> list[str]:
    done = engine.docker("logs", FTMON, check=False)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def _events(engine: Engine, name: str) -> list[dict[str, object]]:
    return [e for e in events(_log_lines(engine)) if e.get("event") == name]


def _inspect(engine: Engine) -> str:
    done = engine.docker(
        "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", FTMON, check=False
    )
    return done.stdout.strip()
