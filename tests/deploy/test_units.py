"""The deployment files, checked by the tools that read them and run as plain processes.

systemd units go through `systemd-analyze verify`; the Dockerfile's ENTRYPOINT, CMD and
HEALTHCHECK are parsed out of the file and executed here (no Docker engine needed); the
example configs load through the real config loader.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from monitor import cli, config
from monitor.app import wiring
from monitor.app.metrics import Metrics
from monitor.app.web import HealthServer, HealthState
from monitor.config.fields import MISSING_CREDENTIAL
from monitor.config.load import DEFAULT_STATE_FILE
from monitor.core import routes
from monitor.core.alerts import Alert, Kind, Severity
from monitor.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
UNITS = ("ftmon.service", "ftmon-once.service", "ftmon-once.timer")
VENV_BIN = Path(sys.executable).parent
FTMON = shutil.which("ftmon", path=str(VENV_BIN)) or shutil.which("ftmon")


def unit_settings(name: str) -> dict[str, list[str]]:
    """`Key=value` lines of a unit file, every value of a repeated key, sections flattened."""
    settings: dict[str, list[str]] = {}
    for line in (ROOT / "systemd" / name).read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


@pytest.fixture
def installed_units(tmp_path: Path) -> list[Path]:
    """The units as installed, ExecStart pointing at this checkout's `ftmon`."""
    if FTMON is None:
        pytest.skip("no ftmon executable on this machine")
    paths = []
    for name in UNITS:
        text = (ROOT / "systemd" / name).read_text()
        (tmp_path / name).write_text(text.replace("/usr/local/bin/ftmon", FTMON))
        paths.append(tmp_path / name)
    return paths


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_analyze_verify_accepts_the_units(installed_units: list[Path]) -> None:
    """verify exits 0 and says nothing about our units (unknown keys only warn, so look)."""
    result = subprocess.run(
        ["systemd-analyze", "verify", *map(str, installed_units)],
        capture_output=True,
        text=True,
        cwd=installed_units[0].parent,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    ours = [line for line in result.stderr.splitlines() if "ftmon" in line]
    assert ours == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_verify_would_catch_a_typo(installed_units: list[Path]) -> None:
    """The check above is not vacuous: a misspelt key is reported on stderr."""
    service = installed_units[0]
    service.write_text(service.read_text().replace("WatchdogSec=", "WatchDogSec="))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(service)], capture_output=True, text=True, check=False
    )
    assert "WatchDogSec" in result.stderr


def test_the_units_speak_the_cli_exit_codes() -> None:
    """78 stops restarts of the daemon; the once-unit treats 1, 2 and 3 as findings."""
    daemon = unit_settings("ftmon.service")
    assert daemon["RestartPreventExitStatus"] == [f"{cli.EX_CONFIG} 243"]  # 243: CREDENTIALS
    assert daemon["Type"] == ["notify"]
    assert daemon["NotifyAccess"] == ["main"]
    assert daemon["ExecReload"] == ["/bin/sh -c 'kill -HUP $MAINPID'"]  # no procps needed
    once = unit_settings("ftmon-once.service")
    findings = {wiring.EXIT_WARNING, wiring.EXIT_FAILURE, wiring.EXIT_UNPOLLED}
    assert {int(code) for code in once["SuccessExitStatus"][0].split()} == findings
    assert "--once" in once["ExecStart"][0]
    timer = unit_settings("ftmon-once.timer")
    assert timer["Unit"] == ["ftmon-once.service"]
    assert timer["Persistent"] == ["true"]


def test_both_services_are_equally_hardened() -> None:
    """Every hardening line of the daemon is in the once-unit too, credentials included."""
    daemon, once = unit_settings("ftmon.service"), unit_settings("ftmon-once.service")
    shared = [
        "DynamicUser",
        "StateDirectory",
        "UMask",
        "LoadCredential",
        "ProtectSystem",
        "NoNewPrivileges",
        "PrivateTmp",
        "CapabilityBoundingSet",
        "RestrictAddressFamilies",
        "SystemCallFilter",
        "MemoryDenyWriteExecute",
    ]
    for key in shared:
        assert daemon[key] == once[key], key
    assert daemon["CapabilityBoundingSet"] == [""]
    assert daemon["ProtectSystem"] == ["strict"]


def test_systemd_example_config_reads_the_units_credentials(tmp_path: Path) -> None:
    """deploy/systemd/ftmon.toml loads from $CREDENTIALS_DIRECTORY and $STATE_DIRECTORY."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    names = [v.split(":", 1)[0] for v in unit_settings("ftmon.service")["LoadCredential"]]
    for name in names:
        (credentials / name).write_text(f"value-of-{name}\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials), "STATE_DIRECTORY": str(tmp_path)}
    cfg = config.load(ROOT / "deploy/systemd/ftmon.toml", env)
    keys = {p.name: p.api_key.reveal() for p in cfg.providers}
    assert keys == {
        "together-prod": "value-of-together_api_key",
        "openai-prod": "value-of-openai_api_key",
    }
    assert cfg.channels[0].url.reveal() == "value-of-slack_webhook_url"
    assert cfg.monitor.state == tmp_path / DEFAULT_STATE_FILE


@pytest.mark.parametrize("unit", ["ftmon.service", "ftmon-once.service"])
def test_every_credential_has_a_missing_file_default(unit: str) -> None:
    """Each LoadCredential= has a SetCredential= default: the marker and the file's path."""
    settings = unit_settings(unit)
    loads = dict(v.split(":", 1) for v in settings["LoadCredential"])
    defaults = dict(v.split(":", 1) for v in settings["SetCredential"])
    assert defaults == {name: MISSING_CREDENTIAL + path for name, path in loads.items()}


def test_a_missing_credential_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """What systemd hands over for a missing LoadCredential= file stops ftmon with 78 and the
    file's name; the credentials that are present still load."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    settings = unit_settings("ftmon.service")
    for name, default in (v.split(":", 1) for v in settings["SetCredential"]):
        present = name != "openai_api_key"
        (credentials / name).write_text(f"value-of-{name}" if present else default)
    env = {"CREDENTIALS_DIRECTORY": str(credentials), "STATE_DIRECTORY": str(tmp_path)}
    with pytest.raises(ConfigError) as caught:
        config.load(ROOT / "deploy/systemd/ftmon.toml", env)
    message = str(caught.value)
    assert "providers[1].api_key_file" in message
    assert "/etc/ftmon/credentials/openai_api_key does not exist" in message
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", "-c", "deploy/systemd/ftmon.toml"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == cli.EX_CONFIG
    assert "openai_api_key does not exist" in done.stderr


@pytest.mark.parametrize("shipped", ["deploy/systemd/ftmon.toml", "deploy/sidecar/ftmon.toml"])
def test_shipped_configs_route_every_kind(shipped: str, tmp_path: Path) -> None:
    """No alert kind of any severity is left unmatched (it would only be logged)."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for name in ("together_api_key", "openai_api_key"):
        (credentials / name).write_text("a-key")
    (credentials / "slack_webhook_url").write_text("json://127.0.0.1:9/hook")
    env = {
        "CREDENTIALS_DIRECTORY": str(credentials),
        "STATE_DIRECTORY": str(tmp_path),
        "TOGETHER_API_KEY": "a-key",
        "SLACK_WEBHOOK_URL": "json://127.0.0.1:9/hook",
    }
    cfg = config.load(ROOT / shipped, env)
    unrouted = [
        f"{kind}/{severity}"
        for kind in Kind
        for severity in Severity
        if not routes.channels_for(_alert(kind, severity), cfg.routes)
    ]
    assert unrouted == []


def _alert(kind: Kind, severity: Severity) -> Alert:
    return Alert(
        kind=kind,
        severity=severity,
        provider="together-prod",
        job_id="ft-1",
        summary="s",
        at=datetime(2026, 1, 1, tzinfo=UTC),
        dedup_key=f"{kind}:{severity}",
    )


@dataclass
class Dockerfile:
    """The final stage of a Dockerfile: its instructions, ENV and exec-form commands."""

    instructions: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        joined = path.read_text().replace("\\\n", " ")
        lines = [line.strip() for line in joined.splitlines()]
        parsed = [
            (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in lines
            if line and not line.startswith("#")
        ]
        last_from = max(i for i, (op, _) in enumerate(parsed) if op == "FROM")
        return cls(parsed[last_from:])

    def values(self, op: str) -> list[str]:
        return [rest for name, rest in self.instructions if name == op]

    def exec_form(self, op: str) -> list[str]:
        rest = self.values(op)[-1]
        if op == "HEALTHCHECK":
            rest = rest.split(" CMD ", 1)[1]
        command: list[str] = json.loads(rest)
        return command

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for rest in self.values("ENV"):
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                out[key] = value
        return out


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.read(ROOT / "Dockerfile")


def process_env(dockerfile: Dockerfile, **extra: str) -> dict[str, str]:
    """The image's ENV over this machine's, with this checkout's ftmon first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FTMON_", "NOTIFY_"))}
    env |= dockerfile.env() | extra
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_image_basics(dockerfile: Dockerfile) -> None:
    """python:3.11-slim, a non-root numeric user, the state volume where state goes."""
    assert dockerfile.values("FROM") == ["python:3.11-slim"]
    user = dockerfile.values("USER")[-1].split(":")[0]
    assert user.isdigit()
    assert int(user) != 0
    env = dockerfile.env()
    assert dockerfile.values("VOLUME") == [env["STATE_DIRECTORY"]] == ["/var/lib/ftmon"]
    assert env["FTMON_CONFIG"] == "/etc/ftmon/ftmon.toml"
    port = env["FTMON_HEALTHCHECK_URL"].rsplit(":", 1)[1].split("/")[0]
    assert dockerfile.values("EXPOSE") == [port]


def test_image_user_and_group_agree(dockerfile: Dockerfile) -> None:
    """USER's uid and gid are the ones the image creates, so the gid has a group entry."""
    uid, gid = dockerfile.values("USER")[-1].split(":")
    run = " ".join(dockerfile.values("RUN"))
    assert f"groupadd --system --gid {gid} ftmon" in run
    assert f"useradd --system --uid {uid} --gid {gid} " in run


def test_entrypoint_and_cmd_run_ftmon(dockerfile: Dockerfile) -> None:
    """ENTRYPOINT + CMD is `ftmon run`; it starts and understands its own options."""
    command = dockerfile.exec_form("ENTRYPOINT") + dockerfile.exec_form("CMD")
    assert command == ["ftmon", "run"]
    result = subprocess.run(
        [*command, "--help"], env=process_env(dockerfile), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "--once" in result.stdout


def test_image_finds_its_config_through_ftmon_config(dockerfile: Dockerfile) -> None:
    """With the image's ENV and no file mounted, `ftmon run --once` names the path, exits 78."""
    path = dockerfile.env()["FTMON_CONFIG"]
    if Path(path).exists():
        pytest.skip(f"{path} exists on this machine")
    command = [*dockerfile.exec_form("ENTRYPOINT"), "run", "--once"]
    result = subprocess.run(command, env=process_env(dockerfile), capture_output=True, text=True)
    assert result.returncode == cli.EX_CONFIG
    assert path in result.stderr


async def test_healthcheck_command_follows_a_live_server(dockerfile: Dockerfile) -> None:
    """The HEALTHCHECK CMD, run as a process: 0 while /healthz is 200, 1 once it is 503."""
    command = dockerfile.exec_form("HEALTHCHECK")
    assert command[0] == "python"
    command[0] = sys.executable
    health = HealthState(max_age=timedelta(seconds=60))
    async with HealthServer("127.0.0.1:0", Metrics(), health) as server:
        url = f"http://127.0.0.1:{server.port}/healthz"
        env = process_env(dockerfile, FTMON_HEALTHCHECK_URL=url)
        healthy = await anyio.run_process(command, env=env, check=False)
        health.max_age = timedelta(seconds=-1)  # every age is now too old
        unhealthy = await anyio.run_process(command, env=env, check=False)
    assert healthy.returncode == 0, healthy.stdout
    assert unhealthy.returncode == 1, unhealthy.stdout


def dockerignore_keeps(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or a parent directory decides."""
    parents = [path] + ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
    keep = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        matches = any(
            fnmatch.fnmatch(p, glob) or (glob.startswith("**/") and fnmatch.fnmatch(p, glob[3:]))
            for p in parents
        )
        if matches:
            keep = negated
    return keep


def test_dockerignore_sends_only_the_package() -> None:
    """The build context has what `pip install .` needs, and no venv, tests or state."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in ("pyproject.toml", "README.md", "monitor/app/web.py", "monitor/providers/base.py"):
        assert dockerignore_keeps(path, patterns), path
    for path in (".venv/bin/python", ".git/HEAD", "tests/deploy/test_units.py", "ftmon.db"):
        assert not dockerignore_keeps(path, patterns), path
    assert not dockerignore_keeps("monitor/__pycache__/web.cpython-311.pyc", patterns)


def test_sidecar_example_fits_the_image(dockerfile: Dockerfile) -> None:
    """The sidecar config loads, listens where the HEALTHCHECK asks, keeps state on the volume."""
    env = {"TOGETHER_API_KEY": "tg-key", "SLACK_WEBHOOK_URL": "https://hooks.example/T/B/x"}
    cfg = config.load(ROOT / "deploy/sidecar/ftmon.toml", env)
    image_env = dockerfile.env()
    port = image_env["FTMON_HEALTHCHECK_URL"].rsplit(":", 1)[1].split("/")[0]
    assert cfg.monitor.listen == f"0.0.0.0:{port}"
    assert cfg.monitor.state.parent == Path(image_env["STATE_DIRECTORY"])
    assert cfg.providers[0].api_key.reveal() == "tg-key"


def test_sidecar_manifests_mount_what_the_image_expects(dockerfile: Dockerfile) -> None:
    """compose.yaml and pod.yaml mount the config at FTMON_CONFIG and state on the volume."""
    yaml = pytest.importorskip("yaml")
    image_env = dockerfile.env()
    compose = yaml.safe_load((ROOT / "deploy/sidecar/compose.yaml").read_text())
    mounts = compose["services"]["ftmon"]["volumes"]
    assert f"./ftmon.toml:{image_env['FTMON_CONFIG']}:ro" in mounts
    assert f"ftmon-state:{image_env['STATE_DIRECTORY']}" in mounts
    pod = yaml.safe_load((ROOT / "deploy/sidecar/pod.yaml").read_text())
    (sidecar,) = pod["spec"]["initContainers"]
    paths = {m["mountPath"] for m in sidecar["volumeMounts"]}
    assert {str(Path(image_env["FTMON_CONFIG"]).parent), image_env["STATE_DIRECTORY"]} <= paths
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
