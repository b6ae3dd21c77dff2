"""What the check feeds ftmon: fresh secrets, and the shipped configs pointed at the simulator.

The configs are the repository's own (`deploy/systemd/ftmon.toml`,
`deploy/sidecar/ftmon.toml`) with only what a test must change: each provider's
`base_url` (the simulator), a 1 s poll interval, alerts on first sight, and a debouncing
`group_wait` long enough that a held alert can only reach the receiver through the drain
at stop.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

SIM_PORT, RECEIVER_PORT = 9090, 9091
SIM_URL = f"http://127.0.0.1:{SIM_PORT}/v1"
# Scenarios whose jobs start running within seconds and then take minutes.
SCENARIOS = ("together_success", "openai_success")
TIME_SCALE = "0.05"
POLL = "1s"  # the test's poll interval, a real config value


@dataclass(frozen=True, slots=True)
class Secrets:
    together_key: str
    openai_key: str
    hook_token: str

    @staticmethod
    def fresh() -> Secrets:
        return Secrets(
            together_key=f"tgk-{secrets.token_hex(16)}",
            openai_key=f"oak-{secrets.token_hex(16)}",
            hook_token=secrets.token_hex(12),
        )

    @property
    def hook_url(self) -> str:
        """The channel URL: a JSON webhook whose path holds a token, as Slack's does."""
        return f"json://127.0.0.1:{RECEIVER_PORT}/hooks/{self.hook_token}"

    def values(self) -> tuple[str, ...]:
        return (self.together_key, self.openai_key, self.hook_token)

    def simulator_args(self) -> list[str]:
        return [
            *("-m", "monitor.simulator", "--port", str(SIM_PORT), "--real-time"),
            *("--time-scale", TIME_SCALE, "--scenario", *SCENARIOS),
            *("--together-key", self.together_key, "--openai-key", self.openai_key),
        ]


def checked_config(shipped: Path, *, group_wait: str = "10m") -> str:
    """The shipped config, polling the simulator every second, alerting on first sight."""
    text = shipped.read_text()
    text = re.sub(r'(?m)^(kind = "(together|openai)".*)$', rf'\1\nbase_url = "{SIM_URL}"', text)
    text = re.sub(r"(?m)^poll_interval = .*$", f'poll_interval = "{POLL}"', text)
    text = re.sub(r"(?m)^first_run = .*$", 'first_run = "alert"', text)
    if "first_run" not in text:
        text = text.replace("[monitor]\n", '[monitor]\nfirst_run = "alert"\n', 1)
    return re.sub(r"(?m)^group_wait = .*$", f'group_wait = "{group_wait}"', text)


def labels(received: Path) -> list[str]:
    """The label lines (`kind=… severity=…`) in every message the receiver got."""
    if not received.exists():
        return []
    found = []
    for line in received.read_text().splitlines():
        body = json.loads(line)["body"]
        try:
            message = str(json.loads(body).get("message", ""))
        except ValueError:
            message = body
        found += [s.strip() for s in message.splitlines() if s.strip().startswith("kind=")]
    return found
