"""The daemon listens for its signals before a generation starts: `daemon_started` in the
log means a SIGHUP reloads and a SIGTERM drains (a SIGHUP that came before the handler
would have killed the process, as systemd's reload right after a start can)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import anyio
import pytest

from monitor.app import daemon as daemon_mod
from monitor.core.model import ProviderKind
from tests.pollkit import poll_config, provider


def test_the_signal_handlers_are_in_place_before_the_first_generation_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []

    class FirstGeneration:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        async def run(self, control: daemon_mod.Control) -> None:
            seen.append(signal.getsignal(signal.SIGHUP))  # no checkpoint before this
            control.stopping = True

    monkeypatch.setattr(daemon_mod, "Generation", FirstGeneration)
    together = provider("together", ProviderKind.TOGETHER, "k", "http://127.0.0.1:9/v1")
    config = poll_config(tmp_path, [together])
    daemon = daemon_mod.Daemon(config, config_path=None, env={})
    assert anyio.run(daemon.run) == 0
    assert seen and seen[0] not in (signal.SIG_DFL, signal.SIG_IGN, None)
