"""`python -m tests.reliability.cli_shim ARGS`: the real `monitor.cli.main` with the test
seams of `tests.entry`, apprise aimed at loopback.

Two test-only adjustments to apprise, nothing to ftmon: the Slack plugin's fixed webhook
host (`hooks.slack.com`) is replaced by `$FTMON_TEST_SLACK_URL` when set (the class
attribute is the only seam the plugin offers; the payload and the answer check are the
plugin's own), and apprise's politeness sleeps between two sends to one target (5.5 s for
email, 1.2 s for Slack) are turned off, so a suite can send hundreds of messages. The exit
status is whatever `monitor.cli.main` returns.

For the secrets suite, two simulated bugs whose exceptions carry secrets:
`$FTMON_TEST_CRASH_SENDS=N` makes the first N channel sends raise with the channel URL's
secret parts in the message, `$FTMON_TEST_CRASH_POLLS=N` the first N polls with the
provider's API key. Whatever ftmon then logs, records or prints must not show them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from monitor.app.poll import PollService
from monitor.cli import main
from monitor.delivery.channels import AppriseChannel, check_url
from tests.entry import seams_from

check_url("json://localhost")  # loads apprise's plugins the way channels.py does
from apprise.plugins.email.base import NotifyEmail  # noqa: E402
from apprise.plugins.slack import NotifySlack  # noqa: E402

if os.environ.get("FTMON_TEST_SLACK_URL"):
    NotifySlack.webhook_url = os.environ["FTMON_TEST_SLACK_URL"]
NotifySlack.request_rate_per_sec = 0
NotifyEmail.request_rate_per_sec = 0


def _crash_sends(count: int) -> None:
    send = AppriseChannel.send
    left = [count]

    async def crashing(self: AppriseChannel, message: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise RuntimeError(f"simulated plugin bug posting with {self._secrets}")
        return await send(self, message)

    AppriseChannel.send = crashing  # type: ignore[method-assign]


def _crash_polls(count: int) -> None:
    poll = PollService.poll
    left = [count]

    async def crashing(self: PollService, name: str, *args: Any, **kwargs: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            key = self.config.provider(name).api_key.reveal()
            raise RuntimeError(f"simulated bug holding the key {key}")
        return await poll(self, name, *args, **kwargs)

    PollService.poll = crashing  # type: ignore[method-assign]


if os.environ.get("FTMON_TEST_CRASH_SENDS"):
    _crash_sends(int(os.environ["FTMON_TEST_CRASH_SENDS"]))
if os.environ.get("FTMON_TEST_CRASH_POLLS"):
    _crash_polls(int(os.environ["FTMON_TEST_CRASH_POLLS"]))

if __name__ == "__main__":
    sys.exit(main(seams=seams_from(os.environ)))
