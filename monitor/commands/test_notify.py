"""`ftmon test-notify`: a realistic sample alert through the real delivery path.

The sample is enqueued in the outbox like any alert (its dedup key unique per run), routed
straight to the targeted channels, and delivered by a Dispatcher on the same store with
the same rendering, channels, attempts and records as every other alert; it skips only
quiet hours and group_wait. One line per channel: `NAME: delivered` or
`NAME: failed: ERROR`. Exit status 0 when every targeted channel took it, else 1.
"""

# ruff: noqa: PT028  -- `test_notify` is the command's name, not a pytest test

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import anyio

from monitor.core.alerts import Alert, Kind
from monitor.core.deliveries import DeliveryStatus
from monitor.core.samples import sample_alert
from monitor.core.settings import Config, MonitorSettings
from monitor.delivery.channels import Channel, build_channels
from monitor.delivery.dispatch import Dispatcher
from monitor.providers import TRAITS
from monitor.storage.base import Outbox, Store
from monitor.storage.factory import open_store

WAIT = 90.0  # seconds for every targeted channel to answer once


async def test_notify(
    config: Config,
    state: Path | MonitorSettings,
    channel: str | None,
    kind: str,
    *,
    channels: Mapping[str, Channel] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    out: TextIO = sys.stdout,
) -> int:
    """Send one sample `kind` alert to `channel` (or every channel); 0 if all took it."""
    names = [c.name for c in config.channels]
    problem = _bad_arguments(names, channel, kind)
    if problem:
        print(f"ftmon: test-notify: {problem}", file=sys.stderr)
        return 1
    chans: Mapping[str, Channel] = (
        channels if channels is not None else build_channels(config.channels, config.file)
    )
    targets = [channel] if channel else names
    store = open_store(
        state if isinstance(state, MonitorSettings) else MonitorSettings(state=state)
    )
    try:
        lines = await _send_sample(store, config, chans, targets, Kind(kind), clock)
    finally:
        store.close()
    for line in lines:
        print(line, file=out)
    return 0 if all(line.endswith(": delivered") for line in lines) else 1


def _bad_arguments(names: list[str], channel: str | None, kind: str) -> str | None:
    if not names:
        return "no [[channels]] in the config"
    if channel is not None and channel not in names:
        return f"unknown channel {channel!r}; configured: {', '.join(names)}"
    if kind not in {str(k) for k in Kind}:
        return f"unknown kind {kind!r}; one of: {', '.join(str(k) for k in Kind)}"
    return None


def _linked(alert: Alert) -> Alert:
    """The sample's dashboard link, from its provider's traits (as a real alert has)."""
    traits = TRAITS.get(alert.provider_kind or "")
    if traits is None or alert.job_id is None:
        return alert
    return replace(alert, link=traits.link(alert.job_id))


async def _send_sample(
    store: Store,
    config: Config,
    chans: Mapping[str, Channel],
    targets: list[str],
    kind: Kind,
    clock: Callable[[], datetime],
) -> list[str]:
    box = store.outbox
    now = clock()
    provider = next((p.name for p in config.providers), None)
    alert = _linked(sample_alert(kind, now, uuid.uuid4().hex[:12], provider))
    store.enqueue([alert], now)
    alert_id = store.outbox.alert_id(alert.dedup_key)
    assert alert_id is not None
    store.outbox.route_to(alert_id, targets, now)
    dispatcher = Dispatcher(
        store, chans, config.routes, clock, label_metadata=config.monitor.label_metadata
    )
    only = frozenset({alert_id})
    with anyio.move_on_after(WAIT):
        while not _answered(box, alert_id, targets):
            report = await dispatcher.run_once(only=only, flush=True)
            if report.messages == 0 and report.retrying == 0 and report.failed == 0:
                await anyio.sleep(0.05)
    lines = _outcomes(box, alert_id, targets)
    leftovers = store.outbox.due(clock() + timedelta(days=365), only)
    store.outbox.give_up(leftovers, "test-notify finished")  # never sent later by the daemon
    return lines


def _answered(box: Outbox, alert_id: int, targets: list[str]) -> bool:
    """Every target delivered, failed once, or disabled (so it will not be tried)."""
    states = box.delivery_states(alert_id)
    disabled = box.disabled_channels()
    return all(
        name in disabled or states[name][0] is not DeliveryStatus.PENDING or states[name][1]
        for name in targets
    )


def _outcomes(box: Outbox, alert_id: int, targets: list[str]) -> list[str]:
    states = box.delivery_states(alert_id)
    disabled = box.disabled_channels()
    lines = []
    for name in targets:
        status, error = states[name]
        if status is DeliveryStatus.SENT:
            lines.append(f"{name}: delivered")
        elif error:
            lines.append(f"{name}: failed: {error}")
        elif name in disabled:
            d = disabled[name]
            lines.append(
                f"{name}: failed: channel disabled since {d.at:%Y-%m-%d %H:%M}: {d.reason}"
            )
        else:
            lines.append(f"{name}: failed: no answer within {WAIT:.0f}s")
    return lines


test_notify.__test__ = False  # type: ignore[attr-defined]  # not for pytest to collect
