"""No secret from the config ever shows: scan everything a full scenario run produced.

Secrets: both API keys (the simulator accepts only them), a JSON webhook URL with a
password and a path token, a Slack URL's three tokens, an SMTP password, a heartbeat URL
with its check token. The daemon runs scenarios at `FTMON_LOG_LEVEL=debug` (the standard
library's httpx and httpcore loggers at debug too) through things that make it talk: a
key revoked for a while, a truncated body, a webhook down then back, a heartbeat that
fails, and simulated bugs whose exceptions carry a channel's tokens and a provider's key
(logged with their tracebacks). Then `run --once`, `status` (table and JSON),
`check-config` and `test-notify` run too.

Scanned: every line those processes wrote, the state file with its WAL and shared-memory
files (while the daemon runs, and after), every byte the webhook, Slack and SMTP
receivers got. Checked under the real process: the state directory it creates is 0700,
the file and its WAL 0600.
"""

from __future__ import annotations

import stat
import time
from pathlib import Path

from monitor.simulator import RealClock, Simulator
from tests.e2e.harness import write_config
from tests.receivers import HttpReceiver, SmtpReceiver
from tests.reliability import kit
from tests.reliability.test_provider_faults import THRESHOLDS

TOGETHER_KEY = "tg-SECRET-key-7f3a9c1e55d2"
OPENAI_KEY = "fake-openai-key-SECRET-8d2b"
HOOK_PASSWORD = "hookpassSECRET9a9a"
HOOK_TOKEN = "whSECRETpath5e5e5e5e"
SLACK_TOKENS = ("T0SECRETAA", "B0SECRETBB", "slackSECRETtokenXyz987")
SMTP_PASSWORD = "smtpSECRETpass4242"
HEARTBEAT_TOKEN = "hbSECRETuuid3c3c3c3c"
SECRETS = (
    TOGETHER_KEY,
    OPENAI_KEY,
    HOOK_PASSWORD,
    HOOK_TOKEN,
    *SLACK_TOKENS,
    SMTP_PASSWORD,
    HEARTBEAT_TOKEN,
)


def leaks(name: str, data: bytes) -> list[str]:
    return [f"{secret} in {name}" for secret in SECRETS if secret.encode() in data]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_secret_in_logs_state_messages_or_output(tmp_path: Path) -> None:
    """Every log line, state byte, message and command output is free of every secret."""
    hook, slack, beat = HttpReceiver(), HttpReceiver(), HttpReceiver()
    smtp = SmtpReceiver(password=SMTP_PASSWORD)
    state_dir = tmp_path / "private" / "ftmon"
    environ = kit.env(
        FTMON_TEST_SLACK_URL=f"{slack.url}/services",
        FTMON_TEST_CRASH_SENDS="2",
        FTMON_TEST_CRASH_POLLS="2",
    )
    environ.update(TOGETHER_KEY=TOGETHER_KEY, OPENAI_KEY=OPENAI_KEY)
    channels = {
        "hook": f"json://ftmon:{HOOK_PASSWORD}@127.0.0.1:{hook.port}/{HOOK_TOKEN}/in",
        "slack": "slack://{}/{}/{}".format(*SLACK_TOKENS),
        "mail": smtp.url(),
    }
    outputs: dict[str, bytes] = {}
    with Simulator(clock=RealClock(), together_key=TOGETHER_KEY, openai_key=OPENAI_KEY) as sim:
        config = write_config(
            tmp_path,
            sim,
            thresholds={**THRESHOLDS, "provider_down": "2s"},
            channels=channels,
            first_run="alert",  # the scenarios may start before the first poll under load
            poll_interval="1s",
            extra=kit.NO_INCIDENTS,
        )
        text = config.read_text().replace(str(tmp_path / "state.db"), str(state_dir / "state.db"))
        text = text.replace(
            "[thresholds]", f'heartbeat_url = "{beat.url}/ping/{HEARTBEAT_TOKEN}"\n\n[thresholds]'
        )
        config.write_text(text)
        runs = kit.Scenarios(sim)
        for i, name in enumerate(("together_billing_limit", "openai_failure", "openai_success")):
            runs.start(name, at=1 + i, span=8)
        state = state_dir / "state.db"
        daemon = kit.start_daemon(config, tmp_path / "ftmon.log", environ)
        try:
            kit.wait_for(lambda: state.exists() and len(kit.outbox(state)) >= 2, 60, "alerts")
            modes = {p.name: mode(p) for p in (state_dir, state, Path(f"{state}-wal"))}
            hook.refuse()
            sim.faults.revoke("openai", status=401)
            sim.faults.truncate(provider="together")
            time.sleep(3)
            sim.faults.restore("openai")
            hook.recover()
            kit.wait_for(lambda: runs.facts(state) >= runs.expected, 60, "every fact")
            kit.wait_for(lambda: kit.delivery_counts(state)[("hook", "pending")] == 0, 60, "sent")
            for suffix in ("", "-wal", "-shm"):
                outputs[f"state{suffix} (running)"] = Path(f"{state}{suffix}").read_bytes()
        finally:
            code = daemon.stop()
        for args in (
            ["run", "--once", "--json", "-c", str(config)],
            ["status", "-c", str(config)],
            ["status", "--json", "-c", str(config)],
            ["check-config", "-c", str(config)],
            ["test-notify", "-c", str(config)],
        ):
            done = kit.cli(args, environ)
            outputs[" ".join(args[:2])] = (done.stdout + done.stderr).encode()
    for r in (hook, slack, beat):
        r.close()
    smtp.close()
    outputs["daemon log"] = daemon.log.read_bytes()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{state}{suffix}").exists():
            outputs[f"state{suffix}"] = Path(f"{state}{suffix}").read_bytes()
    for n, request in enumerate(hook.requests + slack.requests):
        outputs[f"http message {n}"] = request.body
    for n, mail in enumerate(smtp):
        outputs[f"mail {n}"] = mail.message.as_bytes()
    log = outputs["daemon log"].decode()
    kit.record(
        "secrets",
        secrets=len(SECRETS),
        sources=len(outputs),
        bytes_scanned=sum(len(b) for b in outputs.values()),
        log_lines=log.count("\n"),
        tracebacks=log.count("Traceback"),
        messages=len(hook.requests) + len(slack.requests) + len(list(smtp)),
        modes={k: oct(v) for k, v in modes.items()},
    )
    assert code == 0
    found = [leak for name, data in outputs.items() for leak in leaks(name, data)]
    assert found == [], found
    assert modes == {"ftmon": 0o700, "state.db": 0o600, "state.db-wal": 0o600}
    # the run did reach the places a secret could slip into
    assert log.count("Traceback") >= 2 and "poll_crashed" in log and "channel_send_crashed" in log
    assert "heartbeat_failed" in log and "delivery_failed" in log and '"level": "debug"' in log
    assert len(list(smtp)) >= 3 and len(slack.requests) >= 3
