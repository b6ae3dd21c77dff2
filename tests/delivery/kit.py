"""What the dispatcher tests share: channels on the loopback receivers, a dispatcher with
a fixed jitter, and readers of what the receivers got."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from monitor.core.alerts import Alert, Kind
from monitor.core.samples import sample_alert
from monitor.core.settings import RouteConfig
from monitor.delivery.channels import AppriseChannel, Channel
from monitor.delivery.dispatch import Dispatcher
from monitor.storage.base import Store
from tests.clock import Clock
from tests.receivers import HttpReceiver, SmtpReceiver

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def hook_channel(hook: HttpReceiver, path: str = "/hook") -> dict[str, Channel]:
    """One JSON webhook channel named `hook` posting to the receiver at `path`."""
    return {"hook": AppriseChannel("hook", f"json://127.0.0.1:{hook.port}{path}")}


def both_channels(smtp: SmtpReceiver, hook: HttpReceiver) -> dict[str, Channel]:
    return {"ops-email": AppriseChannel("ops-email", smtp.url()), **hook_channel(hook)}


def make_dispatcher(
    store: Store, channels: Mapping[str, Channel], clock: Clock, **kw: object
) -> Dispatcher:
    """All channels on one route with no group_wait (unless `routes` is given), mid jitter."""
    routes = kw.pop("routes", (RouteConfig(channels=tuple(channels), group_wait=timedelta(0)),))
    return Dispatcher(store, channels, routes, clock, rng=lambda: 0.5, **kw)  # type: ignore[arg-type]


def cancellations(n: int, at: datetime, prefix: str = "j") -> list[Alert]:
    return [sample_alert(Kind.CANCELLED, at, f"{prefix}{i:03d}") for i in range(n)]


def labels(requests: list[str]) -> list[str]:
    return [line for body in requests for line in body.splitlines() if line.startswith("kind=")]


def ok_bodies(hook: HttpReceiver) -> list[str]:
    return [r.json()["message"] for r, status in zip(hook.requests, hook.answered, strict=True)
            if status == 200]  # fmt: skip
