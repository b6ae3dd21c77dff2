"""The resolved configuration as TOML-like text, every secret masked (`ftmon check-config`).

API keys show as `********` with where they came from (`# from env TOGETHER_API_KEY`,
`# from file /run/credentials/...`); channel URLs go through `mask_url` (apprise's privacy
form when the caller has one, else only the scheme: `slack://********`); the heartbeat URL
shows only its scheme. As a last guard, any secret value still found in the text is
replaced by the mask, so no key reaches the output even through a careless `mask_url`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.core import routes, routing
from monitor.core.alerts import Kind
from monitor.core.durations import format_duration
from monitor.core.model import ProviderKind

if TYPE_CHECKING:
    from monitor.core.routing import JobMatch
    from monitor.core.settings import (
        ChannelConfig,
        Config,
        CostSettings,
        Incidents,
        MonitorSettings,
        ProviderConfig,
        RouteConfig,
        Secret,
        Thresholds,
    )

MASK = "********"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_MIN_SCRUB = 6  # shorter values are too likely to match innocent text


def describe(config: Config, mask_url: Callable[[str], str] | None = None) -> str:
    """The config as check-config prints it; no secret value ever appears in it."""
    mask = mask_url or mask_scheme
    lines = [f"# ftmon configuration from {config.file} (secrets masked)", ""]
    lines += _monitor(config.monitor)
    lines += _thresholds(config.thresholds)
    lines += _incidents(config.incidents)
    for provider in config.providers:
        lines += _provider(provider)
    for channel in config.channels:
        lines += _channel(channel, mask)
    for route in config.routes:
        lines += _route(route)
    lines += _cost(config.cost)
    lines += _warnings(config)
    return _scrub("\n".join(lines).rstrip("\n"), config.secrets())


def mask_scheme(url: str) -> str:
    """`slack://T000/B000/XXX` -> `slack://********`; no scheme -> `********`."""
    match = _SCHEME.match(url)
    return f"{match.group(1)}://{MASK}" if match else MASK


def _monitor(m: MonitorSettings) -> list[str]:
    heartbeat = (
        _line("heartbeat_url", mask_scheme(m.heartbeat_url.reveal()), _from(m.heartbeat_url))
        if m.heartbeat_url
        else _line("heartbeat_url", "", "off")
    )
    return [
        "[monitor]",
        *_state(m),
        _line("poll_interval", m.poll_interval),
        _line("first_run", m.first_run.value),
        _line("log_format", m.log_format.value),
        _line("listen", m.listen, "" if m.listen else "off"),
        heartbeat,
        _line("label_metadata", m.label_metadata, "" if m.label_metadata else "none"),
        "",
    ]


def _state(m: MonitorSettings) -> list[str]:
    if m.database is None:
        return [_line("state", m.state)]
    password = m.database_password
    return [
        _line("state", m.database),
        _line("state_password", MASK if password else "", _from(password) if password else "none"),
        _line("lease", m.lease),
        _line("lease_renew", m.lease_renew),
    ]


def _thresholds(t: Thresholds) -> list[str]:
    return [
        "[thresholds]",
        _line("queue_stall", t.queue_stall),
        _line("progress_stall", t.progress_stall),
        _line("eta_grace", t.eta_grace),
        _line("provider_down", t.provider_down),
        _line("repeat", t.repeat),
        _line("loss_spike_factor", t.loss_spike_factor),
        "",
    ]


def _cost(c: CostSettings) -> list[str]:
    lines = [
        "[cost]",
        _line("timezone", c.timezone),
        _line("digest", _Raw("true" if c.digest else "false"), "monitor.cost_digest, opt-in"),
        _line("digest_at", c.digest_at.strftime("%H:%M")),
        "",
    ]
    for b in c.budgets:
        lines += ["[[budgets]]", _line("name", b.name), _line("providers", b.providers)]
        lines.append(_line("period", str(b.period)))
        lines += [_line(k, v) for k, v in (("warning", b.warning), ("failure", b.failure)) if v]
        lines.append("")
    return lines


def _incidents(i: Incidents) -> list[str]:
    return [
        "[incidents]",
        _line("enabled", i.enabled),
        _line("min_jobs", i.min_jobs),
        _line("window", i.window),
        _line("hold", i.hold),
        "",
    ]


def _provider(p: ProviderConfig) -> list[str]:
    return [
        "[[providers]]",
        _line("name", p.name),
        _line("kind", p.kind.value),
        _line("api_key", MASK, _from(p.api_key)),
        _line("base_url", p.base_url),
        _line("jobs", p.jobs, "" if p.jobs else "every job within lookback"),
        _line("lookback", p.lookback),
        *_webhook_lines(p),
        *_watch(p.watch),
        _line("max_response_mb", p.max_response_mb),
        "",
    ]


def _webhook_lines(p: ProviderConfig) -> list[str]:
    if p.webhook_secret is None:
        return []
    slower = p.webhook_poll_interval
    return [
        _line("webhook_secret", MASK, _from(p.webhook_secret)),
        _line("webhook_poll_interval", slower or "", "" if slower else "poll_interval throughout"),
    ]


def _watch(m: JobMatch) -> list[str]:
    if m.empty:
        return ["# watch: every job (no watch filter)"]
    return [_line("watch", _Raw(_inline(m)), f"follows {routing.describe(m)}")]


def _channel(c: ChannelConfig, mask: Callable[[str], str]) -> list[str]:
    return [
        "[[channels]]",
        _line("name", c.name),
        _line("url", mask(c.url.reveal()), _from(c.url)),
        "",
    ]


def _route(r: RouteConfig) -> list[str]:
    q = r.quiet_hours
    quiet = f"{q.start:%H:%M}-{q.end:%H:%M} {q.tz}" if q else ""
    matchers = [_line(k, g) for k, g in r.match.given()]
    if r.match.metadata:
        metadata = ", ".join(f"{_key(k)} = {_toml(g)}" for k, g in r.match.metadata)
        matchers.append(_line("metadata", _Raw(f"{{ {metadata} }}")))
    return [
        f"# takes {routes.route_words(r)}",
        "[[routes]]",
        _line("kinds", r.kinds),
        _line("min_severity", r.min_severity.value),
        _line("providers", r.providers, "" if r.providers else "all"),
        _line("channels", r.channels),
        _line("group_wait", r.group_wait),
        _line("quiet_hours", quiet, "" if q else "none"),
        *matchers,
        "",
    ]


class _Raw(str):
    """Text written into the TOML as it is (an inline table)."""


def _inline(m: JobMatch) -> str:
    parts = [f"{k} = {_toml(g)}" for k, g in m.given()]
    if m.metadata:
        inner = ", ".join(f"{_key(k)} = {_toml(g)}" for k, g in m.metadata)
        parts.append(f"metadata = {{ {inner} }}")
    return "{ " + ", ".join(parts) + " }"


def _key(name: str) -> str:
    """A TOML key: bare when it can be, quoted otherwise."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _warnings(config: Config) -> list[str]:
    return _matcher_warnings(config) + _channel_warnings(config)


def _matcher_warnings(config: Config) -> list[str]:
    """Job matchers that can take nothing: a route for monitor alerts only, a metadata
    filter on Together (whose jobs have no metadata)."""
    out = [
        f"# warning: routes[{i}] matches on job fields but its kinds are monitor.* only, "
        "which are about no job: it takes nothing"
        for i, r in enumerate(config.routes)
        if not r.match.empty
        and not any(fnmatchcase(str(k), g) for k in Kind if k.startswith("job.") for g in r.kinds)
    ]
    out += [
        f"# warning: provider {json.dumps(p.name)} is a Together account, whose jobs have no "
        "metadata: its watch filter follows no job"
        for p in config.providers
        if p.kind is ProviderKind.TOGETHER and p.watch.metadata
    ]
    return out


def _channel_warnings(config: Config) -> list[str]:
    if not config.channels:
        return ["# note: no [[channels]]: alerts are only logged"]
    if not config.routes:
        return ["# warning: [[channels]] but no [[routes]]: alerts are only logged"]
    used = {name for route in config.routes for name in route.channels}
    return [
        f"# warning: channel {json.dumps(c.name)} is in no route and receives nothing"
        for c in config.channels
        if c.name not in used
    ]


def _line(key: str, value: object, note: str = "") -> str:
    text = f"{key} = {_toml(value)}"
    return f"{text}  # {note}" if note else text


def _toml(value: object) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return json.dumps(format_duration(value))
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return repr(value)


def _from(secret: Secret) -> str:
    return f"from {secret.source}" if secret.source else ""


def _scrub(text: str, secrets: Iterable[Secret]) -> str:
    values = sorted({s.reveal() for s in secrets}, key=len, reverse=True)
    for value in values:
        if len(value) >= _MIN_SCRUB:
            text = text.replace(value, MASK)
    return text
