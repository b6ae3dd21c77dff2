"""The demo's webhook part: the simulator pushes OpenAI's terminal changes to the daemon.

`connect` points the simulator's webhook sender at the daemon's endpoint with the demo
config's secret. `PushNote` adds one line under a message about an OpenAI job whose end
was pushed by a webhook: how long after the change the webhook reached ftmon and the
message reached the channel, against the poll interval that polling alone would have
waited up to (openai-sim polls every `webhook_poll_interval` while webhooks arrive).
"""

from __future__ import annotations

import re
import socket
import time

from monitor.core.settings import Config
from monitor.simulator import Simulator

PROVIDER = "openai-sim"
_JOB = re.compile(r"^kind=job\.(?:succeeded|failed|cancelled) .*\bjob=(\S+)", re.MULTILINE)


def free_listen() -> str:
    """A loopback `host:port` nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def connect(sim: Simulator, config: Config) -> None:
    """Send the simulator's OpenAI webhooks to the daemon, signed with the demo's secret."""
    provider = config.provider(PROVIDER)
    assert provider.webhook_secret is not None, "demo.toml gives openai-sim a webhook_secret"
    url = f"http://{config.monitor.listen}/webhooks/openai/{PROVIDER}"
    sim.webhooks.configure(url, provider.webhook_secret.reveal())


class PushNote:
    """One line for a message whose OpenAI job end a webhook pushed, else nothing."""

    def __init__(self, sim: Simulator, config: Config) -> None:
        self.sim = sim
        base = config.monitor.poll_interval
        self.intervals = [base, config.provider(PROVIDER).webhook_poll_interval or base]

    def __call__(self, message: str) -> str | None:
        found = _JOB.search(message)
        if found is None:
            return None
        arrived = time.time()
        pushed = [
            d
            for d in self.sim.webhooks.deliveries()
            if d.job_id == found.group(1) and d.status is not None and 200 <= d.status < 300
        ]
        if not pushed:
            return None
        first = min(pushed, key=lambda d: d.sent_at)
        every = self.intervals[0].total_seconds()  # the first push slows polling down
        self.intervals = self.intervals[-1:]
        return (
            f"↳ pushed by OpenAI's webhook {first.sent_at - first.changed_at:.2f}s after the "
            f"job changed; told here {arrived - first.changed_at:.2f}s after it. Polling alone "
            f"would have waited for the next poll (every {every:.0f}s)."
        )
