"""Bad input: broken configuration files through the real CLI, and fuzzed provider payloads
through the real clients over HTTP.

Configuration: every case of the parse table in `tests/core/test_config.py`, plus files
that are not TOML at all, is written to its own file and given to both `ftmon
check-config` and `ftmon run --once`. Each must exit 78 with one line naming the file,
the key and what was expected. The cases run through `config_driver` (the real
`monitor.cli.main`, many files per Python start); a sample also runs as separate
processes, to show the driver changes nothing.

Payloads: hypothesis writes random values into the fields, statuses and events the
simulator serves; the real Together and OpenAI clients list, retrieve and read logs over
HTTP. Whatever comes back is either understood or a `ProviderError`, never anything else.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.errors import ProviderError
from monitor.core.model import ProviderKind
from monitor.core.settings import ProviderConfig, Secret
from monitor.providers import make_client
from monitor.simulator import ManualClock, Simulator
from tests.config.test_config import BAD
from tests.e2e.harness import write_config
from tests.providers.test_provider_parse_properties import (
    OPENAI_FIELDS,
    TOGETHER_FIELDS,
    json_values,
)
from tests.reliability import kit

EX_CONFIG = 78
PROVIDER = '[[providers]]\nname = "tg"\nkind = "together"\napi_key = "k"\n'

# Files that fail before any key is read: (name, bytes, what the message must say).
NOT_CONFIG: list[tuple[str, bytes, str]] = [
    ("unterminated_string", b'[monitor]\npoll_interval = "60s\n', "expected valid TOML"),
    ("binary", bytes(range(256)) * 4, "cannot read this file"),
    ("latin1", "[monitor]\nstate = \"caf\xe9.db\"\n".encode("latin-1"), "cannot read this file"),
    ("duplicate_key", b'[monitor]\nstate = "a"\nstate = "b"\n' + PROVIDER.encode(), "valid TOML"),
    ("duplicate_table", b"[monitor]\n[monitor]\n" + PROVIDER.encode(), "expected valid TOML"),
    ("yaml", b"monitor:\n  poll_interval: 60s\n", "expected valid TOML"),
    ("json", b'{"monitor": {"poll_interval": "60s"}}', "expected valid TOML"),
    ("empty", b"", "providers: expected at least one [[providers]] table"),
    ("comments_only", b"# nothing here\n", "providers: expected at least one [[providers]]"),
    ("bad_channel_url", (PROVIDER + '[[channels]]\nname = "c"\nurl = "nosuchservice://x"\n'
                         '[[routes]]\nchannels = ["c"]\n').encode(), "channels[0].url"),
]  # fmt: skip


def _localize(text: str, files: dict[str, str], directory: Path) -> tuple[str, dict[str, str]]:
    """Put the case's key files in `directory` (a subdirectory of their own, so no case
    overwrites another's); return the text and a path mapping."""
    mapping = {}
    directory.mkdir()
    for n, (path, content) in enumerate(files.items()):
        local = directory / f"secret-{n}"
        local.write_text(content)
        mapping[path] = str(local)
    return text, mapping


def _replace_paths(text: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        text = re.sub(re.escape(old) + r"(?![\w/.-])", new, text)
    return text


@pytest.fixture(scope="module")
def config_cases(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """One file per bad case, with the exact message (or the fragment) it must produce."""
    directory = tmp_path_factory.mktemp("bad-configs")
    cases: list[dict[str, Any]] = []
    for name, text, env, files, message in BAD:
        _, mapping = _localize(text, files, directory / f"{name}-files")
        path = directory / f"{name}.toml"
        path.write_text(_replace_paths(text, mapping))
        expected = f"ftmon: configuration error: {path}: {_replace_paths(message, mapping)}\n"
        cases.append({"name": name, "path": str(path), "env": env, "exact": expected})
    for name, content, fragment in NOT_CONFIG:
        path = directory / f"{name}.toml"
        path.write_bytes(content)
        cases.append({"name": name, "path": str(path), "env": {}, "fragment": fragment})
    return cases


def _drive(cases: list[dict[str, Any]], tmp: Path) -> list[dict[str, Any]]:
    runs = [
        {"argv": [*command, "-c", case["path"]], "env": {"PATH": "/usr/bin:/bin", **case["env"]}}
        for case in cases
        for command in (["check-config"], ["run", "--once"])
    ]
    spec = tmp / "cases.json"
    spec.write_text(json.dumps(runs))
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.config_driver", str(spec)],
        cwd=kit.REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_every_bad_file_exits_78_naming_file_and_key(
    config_cases: list[dict[str, Any]], tmp_path: Path
) -> None:
    """At least 40 distinct bad files, each through check-config and run --once."""
    results = _drive(config_cases, tmp_path)
    failures = []
    for n, case in enumerate(config_cases):
        for result in results[2 * n : 2 * n + 2]:
            prefix = f"ftmon: configuration error: {case['path']}: "
            ok = result["code"] == EX_CONFIG and result["stdout"] == ""
            if "exact" in case:
                ok = ok and result["stderr"] == case["exact"]
            else:
                ok = ok and result["stderr"].startswith(prefix)
                ok = (
                    ok
                    and case["fragment"] in result["stderr"]
                    and result["stderr"].count("\n") == 1
                )
            if not ok:
                failures.append((case["name"], result))
    kit.record(
        "bad_config",
        files=len(config_cases),
        cli_runs=len(results),
        exit_78=sum(r["code"] == EX_CONFIG for r in results),
        failures=len(failures),
    )
    assert failures == []
    assert len({c["path"] for c in config_cases}) >= 40


def test_the_driver_answers_as_separate_processes_do(
    config_cases: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A sample of the cases as real `ftmon` processes: same status, same message."""
    sample = config_cases[:: max(1, len(config_cases) // 3)]
    driven = _drive(sample, tmp_path)
    for n, case in enumerate(sample):
        for k, command in enumerate((["check-config"], ["run", "--once"])):
            env = {"PATH": "/usr/bin:/bin", **case["env"]}
            done = kit.cli([*command, "-c", case["path"]], env)
            assert (done.returncode, done.stderr) == (
                driven[2 * n + k]["code"],
                driven[2 * n + k]["stderr"],
            ), case["name"]


# -- fuzzed payloads over HTTP ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_sim() -> Iterator[tuple[Simulator, dict[str, str]]]:
    with Simulator(clock=ManualClock(datetime(2026, 11, 6, 9, tzinfo=UTC))) as sim:
        jobs = {
            "together": sim.add_scenario("together_success", at=-3000, time_scale=0.5).job_id,
            "openai": sim.add_scenario("openai_success", at=-3000, time_scale=0.5).job_id,
        }
        yield sim, jobs


def _config(sim: Simulator, kind: ProviderKind) -> ProviderConfig:
    key = "sim-together-key" if kind is ProviderKind.TOGETHER else "sim-openai-key"
    return ProviderConfig(name=str(kind), kind=kind, api_key=Secret(key), base_url=sim.base_url)


async def _read_everything(sim: Simulator, kind: ProviderKind, job_id: str) -> list[str]:
    """List, retrieve and read the log; return what each call ended in."""
    outcomes = []
    client = make_client(_config(sim, kind))
    try:
        for call in (
            lambda: client.list_jobs(created_after=None),
            lambda: client.retrieve(job_id),
            lambda: client.events(job_id, after_key=None),
        ):
            try:
                await call()
                outcomes.append("ok")
            except ProviderError as exc:
                outcomes.append(type(exc).__name__)
    finally:
        await client.aclose()
    return outcomes


injections = st.fixed_dictionaries(
    {
        "provider": st.sampled_from(["together", "openai"]),
        "fields": st.dictionaries(
            st.sampled_from(TOGETHER_FIELDS + OPENAI_FIELDS) | st.text(max_size=8),
            json_values(TOGETHER_FIELDS + OPENAI_FIELDS),
            max_size=4,
        ),
        "status": st.none() | st.text(max_size=16) | st.sampled_from(["running", "Completed", ""]),
        "event": st.none()
        | st.fixed_dictionaries(
            {
                "type": st.text(max_size=12),
                "message": st.text(max_size=40),
                "level": st.sampled_from(["info", "Error", "warn", "", "ERROR!"]),
                "data": st.dictionaries(
                    st.text(max_size=6), json_values(OPENAI_FIELDS), max_size=3
                ),
            }
        ),
    }
)


def test_fuzzed_payloads_over_http_are_understood_or_provider_errors(
    fuzz_sim: tuple[Simulator, dict[str, str]],
) -> None:
    """Random fields, statuses and events served by the simulator reach the real clients;
    every call returns or raises a ProviderError."""
    sim, jobs = fuzz_sim
    seen: dict[str, int] = {}

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(injection=injections)
    def check(injection: dict[str, Any]) -> None:
        job = jobs[injection["provider"]]
        try:
            if injection["fields"]:
                sim.inject_fields(job, injection["fields"])
            if injection["status"] is not None:
                sim.inject_status(job, injection["status"])
            if injection["event"] is not None:
                sim.inject_event(job, **injection["event"])
        except (TypeError, ValueError):  # the simulator's own guard against unusable values
            return
        sim.advance(1)
        kind = ProviderKind(injection["provider"])
        for outcome in anyio.run(_read_everything, sim, kind, job):
            seen[outcome] = seen.get(outcome, 0) + 1

    check()
    kit.record("payload_fuzz", examples=150, calls=sum(seen.values()), outcomes=seen)
    assert sum(seen.values()) >= 150


def test_a_reload_with_an_unusable_channel_url_keeps_the_old_config(tmp_path: Path) -> None:
    """SIGHUP with a channel URL apprise cannot use is rejected like any bad config: the
    daemon keeps running on the old one (it used to accept it and then exit 78)."""
    with Simulator(clock=ManualClock(datetime(2026, 11, 6, 9, tzinfo=UTC))) as sim:
        config = write_config(tmp_path, sim, channels={"hook": "json://127.0.0.1:9/"})
        daemon = kit.start_daemon(config, tmp_path / "ftmon.log")
        try:
            kit.wait_for(lambda: "daemon_started" in daemon.log.read_text(), 30, "start")
            config.write_text(config.read_text().replace("json://127.0.0.1:9/", "nosuch://x"))
            daemon.process.send_signal(signal.SIGHUP)
            kit.wait_for(lambda: "config_reload_rejected" in daemon.log.read_text(), 30, "reject")
            time.sleep(0.5)
            assert daemon.alive()
        finally:
            assert daemon.stop() == 0
    rejected = [e for e in kit.log_events(daemon.log) if e["event"] == "config_reload_rejected"]
    assert "channels[0].url (hook)" in rejected[0]["error"]
