"""The systemd half: the shipped units under a real systemd 252, as an operator uses them.

The units, the config and the credentials are laid out as docs/operations.md says; the
simulator and a webhook receiver run as two more units inside the container. One drop-in
(`50-deploy-check.conf`) makes the test fast (a 1 s RestartSec; the config polls every
second); another,
only for the watchdog check, shortens WatchdogSec.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from deploycheck import fixtures
from deploycheck.fixtures import Secrets
from deploycheck.host import say
from deploycheck.machine import Machine
from deploycheck.results import Results, events, non_json, wait_for

UNITS = ("ftmon.service", "ftmon-once.service", "ftmon-once.timer")
CREDENTIALS = ("together_api_key", "openai_api_key", "slack_webhook_url")
DROPIN = "/etc/systemd/system/ftmon.service.d/50-deploy-check.conf"
WATCHDOG_DROPIN = "/etc/systemd/system/ftmon.service.d/60-watchdog.conf"
CONFIG = "/etc/ftmon/ftmon.toml"
RECEIVED = "/var/lib/ftmon-check/received.jsonl"
MAX_EXPOSURE = 2.0


def lay_out(root: Path, repo: Path, keys: Secrets) -> None:
    """Units, config, credentials and the two helper units, written into the tree."""
    system = root / "etc/systemd/system"
    for unit in UNITS:
        shutil.copy2(repo / "systemd" / unit, system / unit)
    etc = root / "etc/ftmon"
    (etc / "credentials").mkdir(parents=True, mode=0o700)
    (etc / "ftmon.toml").write_text(fixtures.checked_config(repo / "deploy/systemd/ftmon.toml"))
    values = (keys.together_key, keys.openai_key, keys.hook_url)
    for name, value in zip(CREDENTIALS, values, strict=True):
        (etc / "credentials" / name).write_text(value)
        (etc / "credentials" / name).chmod(0o600)
    lib = root / "usr/local/lib/ftmon-check"
    lib.mkdir(parents=True)
    shutil.copy2(Path(__file__).parent / "files/receiver.py", lib / "receiver.py")
    sim = " ".join(["/opt/ftmon/bin/python", *keys.simulator_args()])
    receiver = f"/usr/bin/python3 {lib.relative_to(root).as_posix()}/receiver.py"
    _unit(system / "ftmon-check-sim.service", f"ExecStart={sim}")
    _unit(
        system / "ftmon-check-receiver.service",
        f"ExecStart=/{receiver} {fixtures.RECEIVER_PORT} {RECEIVED}\nStateDirectory=ftmon-check",
    )


def _unit(path: Path, service: str) -> None:
    path.write_text(f"[Unit]\nDescription=deploy-check helper\n\n[Service]\n{service}\n")


def run_all(m: Machine, keys: Secrets, results: Results) -> None:
    _static(m, results)
    m.sh("systemctl start ftmon-check-sim.service ftmon-check-receiver.service", check=True)
    _write(m, DROPIN, "[Service]\nRestartSec=1\n")
    m.sh("systemctl daemon-reload", check=True)
    _start_and_observe(m, results)
    _reload(m, results)
    _drain(m, results)
    _logs(m, keys, results)
    _watchdog(m, results)
    _no_restart_loops(m, results)
    _once(m, results)


def _static(m: Machine, results: Results) -> None:
    say("systemd: verify, security, check-config as the service")
    paths = " ".join(f"/etc/systemd/system/{u}" for u in UNITS)
    done = m.sh(f"systemd-analyze verify {paths} 2>&1")
    results.check(
        "systemd-analyze verify",
        done.returncode == 0 and not done.stdout.strip(),
        done.stdout.strip()[:300],
    )
    for unit in UNITS[:2]:
        text = m.sh(f"systemd-analyze security {unit} 2>&1").stdout
        found = re.search(r"Overall exposure level for \S+: ([\d.]+)", text)
        score = float(found.group(1)) if found else 99.0
        results.check(
            f"systemd-analyze security {unit} <= {MAX_EXPOSURE}", score <= MAX_EXPOSURE, f"{score}"
        )
    creds = " ".join(f"-p LoadCredential={c}:/etc/ftmon/credentials/{c}" for c in CREDENTIALS)
    done = m.sh(
        "systemd-run --quiet --pipe --wait -p DynamicUser=yes -p StateDirectory=ftmon "
        f"{creds} /usr/local/bin/ftmon check-config -c {CONFIG} 2>&1"
    )
    results.check(
        "check-config as the service sees it (systemd-run, credentials)",
        done.returncode == 0,
        "" if done.returncode == 0 else done.stdout[-300:],
    )


def _start_and_observe(m: Machine, results: Results) -> None:
    say("systemd: start, READY, STATUS, dynamic user, state directory, credentials")
    done = m.sh("systemctl start ftmon.service 2>&1")
    state = m.show("ftmon.service", "ActiveState", "SubState", "MainPID")
    results.check(
        "Type=notify start reaches READY (systemctl start returns, active)",
        done.returncode == 0 and state["ActiveState"] == "active",
        str(state),
    )
    ok = wait_for(lambda: " ok at " in m.show("ftmon.service", "StatusText")["StatusText"], 30)
    status = m.show("ftmon.service", "StatusText")["StatusText"]
    results.check("STATUS= shows the last poll", ok, status)
    pid = state["MainPID"]
    uid = m.sh(f"awk '/^Uid:/ {{print $2}}' /proc/{pid}/status").stdout.strip()
    results.check(
        "DynamicUser: runs as a dynamic uid (61184-65519)",
        uid.isdigit() and 61184 <= int(uid) <= 65519,
        f"uid {uid}",
    )
    modes = m.sh("stat -c '%a %u' /var/lib/private/ftmon /var/lib/private/ftmon/ftmon-state.db")
    lines = modes.stdout.split("\n")
    results.check(
        "StateDirectory 0700 owned by the dynamic user, state file 0600",
        lines[:2] == [f"700 {uid}", f"600 {uid}"],
        modes.stdout.strip(),
    )
    creds = m.sh(
        "ls /run/credentials/ftmon.service && tr '\\0' '\\n' < /proc/"
        f"{pid}/environ | grep ^CREDENTIALS_DIRECTORY="
    ).stdout
    results.check(
        "LoadCredential: the credentials directory is passed",
        all(c in creds for c in CREDENTIALS) and "CREDENTIALS_DIRECTORY=" in creds,
    )


def _reload(m: Machine, results: Results) -> None:
    say("systemd: reload with a good and a bad config")
    before = m.show("ftmon.service", "MainPID")["MainPID"]
    good = m.file(CONFIG).read_text()
    m.file(CONFIG).write_text(good.replace('poll_interval = "1s"', 'poll_interval = "2s"'))
    done = m.sh("systemctl reload ftmon.service 2>&1")
    applied = wait_for(lambda: _logged(m, "config_reloaded"), 20)
    after = m.show("ftmon.service", "MainPID", "ActiveState")
    results.check(
        "systemctl reload (good config): applied, same process",
        done.returncode == 0 and applied and after["MainPID"] == before,
        done.stdout.strip()[:200],
    )
    m.file(CONFIG).write_text(good.replace('kind = "together"', 'kind = "fireworks"'))
    done = m.sh("systemctl reload ftmon.service 2>&1")
    rejected = wait_for(lambda: _logged(m, "config_reload_rejected"), 20)
    after = m.show("ftmon.service", "MainPID", "ActiveState")
    results.check(
        "systemctl reload (bad config): rejected, still running on the old one",
        rejected and after["MainPID"] == before and after["ActiveState"] == "active",
        str(after),
    )
    m.file(CONFIG).write_text(good)
    m.sh("systemctl reload ftmon.service")


def _drain(m: Machine, results: Results) -> None:
    say("systemd: stop drains the outbox")
    received = m.file(RECEIVED)
    raised = wait_for(lambda: any(e.get("alerts") for e in _polls(m)), 60)
    held = [label for label in fixtures.labels(received) if "kind=job.started" in label]
    results.check(
        "a job.started alert is raised and held by group_wait",
        raised and not held,
        f"received before stop: {held}",
    )
    done = m.sh("systemctl stop ftmon.service 2>&1")
    drained = [label for label in fixtures.labels(received) if "kind=job.started" in label]
    results.check(
        "systemctl stop drains the outbox (the held alert is delivered)",
        done.returncode == 0 and bool(drained) and _logged(m, "outbox_drained"),
        f"{len(drained)} job.started delivered at stop",
    )


def _logs(m: Machine, keys: Secrets, results: Results) -> None:
    lines = [e["MESSAGE"] for e in m.journal("ftmon.service")]
    bad = non_json(lines)
    results.check(
        "every ftmon journal line is one JSON object",
        bool(lines) and not bad,
        f"{len(lines)} lines; not JSON: {bad[:3]}",
    )
    per_poll = [e for e in events(lines) if e.get("event") == "poll_completed"]
    requests = [line for line in lines if "HTTP Request" in line]
    results.check(
        "one summary line per poll, none per request",
        bool(per_poll) and not requests,
        f"{len(per_poll)} poll lines",
    )
    everything = m.journal_text()
    leaked = [name for name, v in zip(CREDENTIALS, keys.values(), strict=True) if v in everything]
    results.check("no secret in the journal", not leaked, ", ".join(leaked))


def _watchdog(m: Machine, results: Results) -> None:
    say("systemd: the watchdog kills a stopped process and systemd restarts it")
    _write(m, WATCHDOG_DROPIN, "[Service]\nWatchdogSec=3s\nTimeoutAbortSec=2s\n")
    m.sh("systemctl daemon-reload && systemctl start ftmon.service", check=True)
    first = m.show("ftmon.service", "MainPID")["MainPID"]
    m.sh("systemctl kill --kill-whom=main --signal=SIGSTOP ftmon.service", check=True)

    def restarted() -> bool:
        s = m.show("ftmon.service", "MainPID", "NRestarts", "ActiveState", "SubState")
        return s["MainPID"] not in ("0", first) and s["SubState"] == "running"

    ok = wait_for(restarted, 60)
    text = m.journal_text("ftmon.service")
    results.check(
        "watchdog timeout kills the SIGSTOPped process; systemd restarts it",
        ok and "Watchdog timeout" in text,
        str(m.show("ftmon.service", "NRestarts", "MainPID")),
    )
    m.file(WATCHDOG_DROPIN).unlink()
    m.sh("systemctl daemon-reload && systemctl stop ftmon.service", check=True)


def _no_restart_loops(m: Machine, results: Results) -> None:
    say("systemd: exit 78 and a missing credential are not restarted")
    good = m.file(CONFIG).read_text()
    m.file(CONFIG).write_text(good.replace('kind = "together"', 'kind = "fireworks"'))
    _expect_config_failure(m, results, "invalid config", "fireworks")
    m.file(CONFIG).write_text(good)
    credential = m.file("/etc/ftmon/credentials/openai_api_key")
    kept = credential.read_text()
    credential.unlink()
    _expect_config_failure(m, results, "missing credential file", "openai_api_key")
    credential.write_text(kept)
    credential.chmod(0o600)
    m.sh("systemctl reset-failed ftmon.service")


def _expect_config_failure(m: Machine, results: Results, what: str, named: str) -> None:
    m.sh("systemctl reset-failed ftmon.service; systemctl start ftmon.service")
    time.sleep(4)  # RestartSec=1 (the drop-in): a restart would have happened by now
    s = m.show("ftmon.service", "ActiveState", "ExecMainStatus", "NRestarts", "Result")
    tail = m.sh("journalctl --no-pager -o cat -n 30 -u ftmon.service").stdout
    results.check(
        f"{what}: exit 78, failed, not restarted, the journal names {named}",
        s["ExecMainStatus"] == "78"
        and s["ActiveState"] == "failed"
        and s["NRestarts"] == "0"
        and named in tail,
        str(s),
    )


def _once(m: Machine, results: Results) -> None:
    say("systemd: ftmon-once.service and ftmon-once.timer")
    done = m.sh("systemctl start ftmon-once.service 2>&1")
    s = m.show("ftmon-once.service", "Result", "ExecMainStatus")
    results.check(
        "ftmon-once.service runs one cycle and succeeds",
        done.returncode == 0
        and s["Result"] == "success"
        and s["ExecMainStatus"] in ("0", "1", "2", "3"),
        str(s),
    )
    lines = [e["MESSAGE"] for e in m.journal("ftmon-once.service")]
    results.check(
        "ftmon-once journal lines are JSON",
        bool(lines) and not non_json(lines),
        f"{len(lines)} lines",
    )
    m.sh("systemctl start ftmon-once.timer", check=True)
    t = m.show("ftmon-once.timer", "ActiveState", "NextElapseUSecRealtime")
    results.check(
        "ftmon-once.timer is active with a next run",
        t["ActiveState"] == "active" and bool(t["NextElapseUSecRealtime"]),
        str(t),
    )
    m.sh("systemctl stop ftmon-once.timer")


def _write(m: Machine, path: str, text: str) -> None:
    target = m.file(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def _logged(m: Machine, event: str) -> bool:
    return any(
        e.get("event") == event for e in events(x["MESSAGE"] for x in m.journal("ftmon.service"))
    )


def _polls(m: Machine) -> list[dict[str, object]]:
    lines = (x["MESSAGE"] for x in m.journal("ftmon.service"))
    return [e for e in events(lines) if e.get("event") == "poll_completed"]
