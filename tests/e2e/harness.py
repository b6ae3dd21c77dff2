"""The real `ftmon` process against the simulator: configs, runs, and what they raised.

Every helper here runs ftmon as a separate process (`python -m monitor`), so the tests
cover argument parsing, config loading, the store file, HTTP to the simulator and exit
codes exactly as a user's cron job or systemd unit would.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.simulator import ManualClock, Simulator
from tests.receivers import HttpReceiver

TOGETHER_KEY = "sim-together-key"
OPENAI_KEY = "sim-openai-key"


def write_config(
    directory: Path,
    sim: Simulator | str,
    *,
    thresholds: Mapping[str, str] | None = None,
    channels: Mapping[str, str] | None = None,
    first_run: str = "baseline",
    poll_interval: str = "60s",
    listen: str = "",
    extra: str = "",
    name: str = "ftmon.toml",
    openai_extra: str = "",
) -> Path:
    """A config with both simulated providers, a private state file and the given channels
    (`openai_extra`: more lines for the OpenAI provider's table)."""
    base_url = sim if isinstance(sim, str) else sim.base_url
    lines = [
        "[monitor]",
        f'state = "{directory / "state.db"}"',
        f'poll_interval = "{poll_interval}"',
        f'first_run = "{first_run}"',
        'log_format = "json"',
        f'listen = "{listen}"',
        "",
        "[thresholds]",
        *(f'{k} = "{v}"' for k, v in (thresholds or {}).items()),
        "",
        "[[providers]]",
        'name = "together-sim"',
        'kind = "together"',
        'api_key = "${TOGETHER_KEY}"',
        f'base_url = "{base_url}"',
        "",
        "[[providers]]",
        'name = "openai-sim"',
        'kind = "openai"',
        'api_key = "${OPENAI_KEY}"',
        f'base_url = "{base_url}"',
        *openai_extra.splitlines(),
    ]
    for channel, url in (channels or {}).items():
        lines += ["", "[[channels]]", f'name = "{channel}"', f'url = "{url}"']
    if channels:
        names = ", ".join(f'"{c}"' for c in channels)
        lines += ["", "[[routes]]", 'kinds = ["*"]', f"channels = [{names}]", 'group_wait = "0s"']
    path = directory / name
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


@contextmanager
def hooked(
    directory: Path, start: datetime, **config: Any
) -> Iterator[tuple[Simulator, Path, HttpReceiver]]:
    """The simulator on a manual clock from `start`, a webhook receiver as the one channel
    (`hook`, every kind routed to it) and their config (`write_config`'s options)."""
    receiver = HttpReceiver()
    try:
        with Simulator(clock=ManualClock(start)) as sim:
            hook = {"hook": f"json://127.0.0.1:{receiver.port}/"}
            yield sim, write_config(directory, sim, channels=hook, **config), receiver
    finally:
        receiver.close()


def ftmon_env(now: datetime | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FTMON_", "NOTIFY_"))}
    env.update(TOGETHER_KEY=TOGETHER_KEY, OPENAI_KEY=OPENAI_KEY, **extra)
    if now is not None:
        env["FTMON_NOW"] = now.isoformat()
    return env


def ftmon(
    args: Sequence[str], env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.entry", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class OnceRun:
    returncode: int
    summary: dict[str, Any]
    stderr: str

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return list(self.summary.get("alerts", []))


def run_once(config: Path, now: datetime, **env: str) -> OnceRun:
    """`ftmon run --once --json` at simulated time `now`."""
    done = ftmon(["run", "--once", "--json", "-c", str(config)], ftmon_env(now, **env))
    summary = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return OnceRun(returncode=done.returncode, summary=summary, stderr=done.stderr)


def outbox_keys(state: Path) -> list[str]:
    """Every alert ever enqueued, by dedup key, in enqueue order."""
    with sqlite3.connect(state) as conn:
        return [r[0] for r in conn.execute("SELECT dedup_key FROM alerts ORDER BY id")]


def outbox_facts(state: Path) -> list[tuple[str, str, str | None]]:
    """(job, kind, cause) of every enqueued alert, in enqueue order."""
    with sqlite3.connect(state) as conn:
        rows = conn.execute("SELECT job_id, kind, payload FROM alerts ORDER BY id").fetchall()
    return [(job or "-", kind, json.loads(payload).get("cause")) for job, kind, payload in rows]
