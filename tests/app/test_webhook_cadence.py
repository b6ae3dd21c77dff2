"""`webhook_poll_interval`: a provider whose webhooks arrive is polled more slowly, within
its bounds, and back at `poll_interval` once they stop coming (no I/O: the base only)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.app.generation import WEBHOOKS_FRESH, Generation
from monitor.app.health import HealthState
from monitor.app.metrics import Metrics
from monitor.app.nudges import LocalNudges
from monitor.app.sdnotify import Notifier
from monitor.app.wiring import Seams, system_clock
from monitor.core.model import ProviderKind
from monitor.core.settings import Config, MonitorSettings, ProviderConfig, Secret, Thresholds


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def generation(tmp_path: Path, nudges: LocalNudges) -> Generation:
    def provider(name: str, slower: timedelta | None) -> ProviderConfig:
        secret = Secret("whsec_c2VjcmV0") if slower else None
        return ProviderConfig(
            name=name,
            kind=ProviderKind.OPENAI,
            api_key=Secret("k"),
            base_url="http://127.0.0.1:9/v1",
            webhook_secret=secret,
            webhook_poll_interval=slower,
        )

    config = Config(
        file=tmp_path / "ftmon.toml",
        monitor=MonitorSettings(state=tmp_path / "state.db"),
        thresholds=Thresholds(),
        providers=(provider("hooked", timedelta(minutes=5)), provider("plain", None)),
    )
    health = HealthState.for_interval(timedelta(minutes=1))
    return Generation(
        config, system_clock, Notifier(None), Metrics(), health, seams=Seams(), nudges=nudges
    )


def test_the_base_stretches_only_while_webhooks_arrive(tmp_path: Path) -> None:
    """60 s until a webhook comes; then 5 min; 60 s again a day after the last one. A
    provider without the key keeps 60 s whatever it receives."""
    ticks = Ticks()
    nudges = LocalNudges(clock=ticks)
    gen = generation(tmp_path, nudges)
    assert gen.base_for("hooked") == 60.0
    nudges.nudge("hooked", "ftjob-1")
    nudges.nudge("plain", "ftjob-2")
    assert gen.base_for("hooked") == 300.0
    assert gen.base_for("plain") == 60.0
    ticks.now += WEBHOOKS_FRESH + 1
    assert gen.base_for("hooked") == 60.0
