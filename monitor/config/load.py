"""Configuration: the TOML file of DESIGN section 5, parsed into frozen records.

`load(path, env)` finds and reads the file (shell: file system); `parse(raw, file=, env=,
read_file=)` turns the decoded TOML into a Config or raises ConfigError naming the file,
the key path (`providers[1].api_key`) and what was expected. Typed readers live in
`fields`, the rules of single fields in `checks`, the duration grammar in
`monitor.core.durations`, and `describe` (the masked rendering for check-config) in
`describe`. The records themselves are in `monitor.core.settings`; secrets are wrapped in
`Secret`, whose repr is masked, so a Config can be printed or logged without leaking a key.

    lookup:   -c FILE, else $FTMON_CONFIG, else ./ftmon.toml, else /etc/ftmon/ftmon.toml
    strings:  ${ENV_VAR} anywhere in any string; $${X} is a literal ${X}
    secrets:  api_key | api_key_file, url | url_file, heartbeat_url | heartbeat_url_file,
              webhook_secret | webhook_secret_file (OpenAI providers)
              state_password | state_password_file (and a postgresql:// state URL)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from monitor.config.checks import (
    api_key,
    host_port,
    http_url,
    is_http_url,
    job_match,
    kind_globs,
    label_keys,
    megabytes,
    quiet_window,
    references,
    unique_name,
    webhook_poll_interval,
    webhook_secret,
)
from monitor.config.cost import cost
from monitor.config.fields import Context, ReadFile, Table
from monitor.config.incidents import INCIDENT_KEYS
from monitor.config.incidents import incidents as parse_incidents
from monitor.core.alerts import BUILTIN_LABELS, Kind, Severity
from monitor.core.errors import ConfigError
from monitor.core.model import ProviderKind
from monitor.core.routing import MATCHER_KEYS
from monitor.core.settings import (
    DEFAULT_MAX_RESPONSE_MB,
    ChannelConfig,
    Config,
    FirstRun,
    LogFormat,
    MonitorSettings,
    ProviderConfig,
    QuietHours,
    RouteConfig,
    Secret,
    Thresholds,
)

# The providers' own traits say the same (a test holds them equal); config sits below the
# providers and cannot ask them. Together: the spec's host (api.together.xyz, the older
# host, is still accepted as a base_url).
DEFAULT_BASE_URLS = {
    ProviderKind.TOGETHER: "https://api.together.ai/v1",
    ProviderKind.OPENAI: "https://api.openai.com/v1",
}

DEFAULT_PATHS = (Path("ftmon.toml"), Path("/etc/ftmon/ftmon.toml"))
DEFAULT_STATE_FILE = "ftmon-state.db"
DEFAULT_WEBHOOK_LISTEN = "127.0.0.1:9464"  # webhooks configured, `listen` not: loopback
MAX_WEBHOOK_POLL = timedelta(hours=1)
POSTGRES_SCHEMES = ("postgresql://", "postgres://")

_SECTIONS = (
    "monitor", "thresholds", "incidents", "providers", "channels", "routes", "cost", "budgets",
)  # fmt: skip
_MONITOR_KEYS = (
    "state",
    "poll_interval",
    "first_run",
    "log_format",
    "listen",
    "heartbeat_url",
    "heartbeat_url_file",
    "label_metadata",
    "state_password",
    "state_password_file",
    "lease",
    "lease_renew",
)
_THRESHOLD_KEYS = (
    "queue_stall",
    "progress_stall",
    "eta_grace",
    "provider_down",
    "repeat",
    "loss_spike_factor",
)
_PROVIDER_KEYS = (
    "name",
    "kind",
    "api_key",
    "api_key_file",
    "base_url",
    "jobs",
    "lookback",
    "webhook_secret",
    "webhook_secret_file",
    "webhook_poll_interval",
    "watch",
    "max_response_mb",
)
_CHANNEL_KEYS = ("name", "url", "url_file")
_ROUTE_KEYS = (
    "kinds", "min_severity", "providers", "channels", "group_wait", "quiet_hours",
    *MATCHER_KEYS,
)  # fmt: skip

_MONITOR = MonitorSettings()
_THRESHOLDS = Thresholds()
_LOOKBACK = timedelta(days=7)
_GROUP_WAIT = timedelta(seconds=30)
MAX_POLL = timedelta(days=1)  # a longer interval is a monitor that does not monitor
MAX_GROUP_WAIT = timedelta(days=1)  # alerts held longer than this are alerts lost


def parse(
    raw: Mapping[str, object], *, file: str, env: Mapping[str, str], read_file: ReadFile
) -> Config:
    """Decoded TOML -> Config. Pure: the environment and the file reader are passed in."""
    ctx = Context(file=file, env=env, read_file=read_file)
    top = Table(ctx, raw, "", _SECTIONS, noun="section")
    monitor = _monitor(top.table("monitor", _MONITOR_KEYS), env)
    thresholds = _thresholds(top.table("thresholds", _THRESHOLD_KEYS))
    incidents = parse_incidents(top.table("incidents", INCIDENT_KEYS))
    providers = _providers(top, monitor.poll_interval)
    if not monitor.listen and any(p.webhook_secret for p in providers):
        monitor = replace(monitor, listen=DEFAULT_WEBHOOK_LISTEN)
    channels = _channels(top)
    provider_names = [p.name for p in providers]
    channel_names = [c.name for c in channels]
    routes = tuple(
        _route(t, provider_names, channel_names) for t in top.tables("routes", _ROUTE_KEYS)
    )
    return Config(
        file=Path(file),
        monitor=monitor,
        thresholds=thresholds,
        providers=providers,
        channels=channels,
        routes=routes,
        cost=cost(top, provider_names),
        incidents=incidents,
    )


def load(path: Path | None, env: Mapping[str, str]) -> Config:
    """Find, read and parse the config file: -c FILE, $FTMON_CONFIG, ./ftmon.toml, /etc."""
    chosen, origin = _find(path, env)
    try:
        text = chosen.read_bytes().decode("utf-8-sig")  # tolerate a BOM
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(str(chosen), "", f"cannot read this file ({origin}): {reason}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(chosen), "", f"expected valid TOML: {exc}") from None
    return parse(raw, file=str(chosen), env=env, read_file=_read_text)


def _find(path: Path | None, env: Mapping[str, str]) -> tuple[Path, str]:
    if path is not None:
        return path, "given with -c"
    if env.get("FTMON_CONFIG"):
        return Path(env["FTMON_CONFIG"]), "given by $FTMON_CONFIG"
    for candidate in DEFAULT_PATHS:
        if candidate.is_file():
            return candidate, "found by lookup"
    tried = " and ".join(str(p) for p in DEFAULT_PATHS)
    raise ConfigError(
        str(DEFAULT_PATHS[0]),
        "",
        f"no configuration file found (tried {tried}); pass -c FILE or set FTMON_CONFIG",
    )


def _read_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def loose_secret_files(config: Config) -> list[tuple[str, str]]:
    """(path, mode) of every secret file that its group or others may read.

    Not an error (a container may mount credentials 0644 on a private volume), but worth
    a warning: anyone who can read the file can use the key.
    """
    loose = []
    for secret in config.secrets():
        if not secret.source.startswith("file "):
            continue
        path = secret.source.removeprefix("file ")
        try:
            mode = Path(path).stat().st_mode
        except OSError:
            continue  # read a moment ago; gone now is the next load's problem
        if mode & 0o077:
            loose.append((path, oct(mode & 0o777)))
    return loose


def _monitor(t: Table, env: Mapping[str, str]) -> MonitorSettings:
    url, inline = _database(t) or (None, None)
    lease = t.duration("lease", _MONITOR.lease)
    renew = t.duration("lease_renew", _MONITOR.lease_renew)
    if renew * 2 > lease:
        raise t.error("lease_renew", f"expected at most half of lease ({lease}), got {renew}")
    password = _password(t, url, inline)
    return MonitorSettings(
        state=_MONITOR.state if url else _state(t, env),
        poll_interval=t.duration("poll_interval", _MONITOR.poll_interval, at_most=MAX_POLL),
        first_run=t.choice("first_run", FirstRun, FirstRun.BASELINE),
        log_format=t.choice("log_format", LogFormat, LogFormat.AUTO),
        listen=host_port(t, "listen"),
        heartbeat_url=_heartbeat(t),
        label_metadata=label_keys(t, "label_metadata", BUILTIN_LABELS),
        database=url,
        database_password=password,
        lease=lease,
        lease_renew=renew,
    )


def _database(t: Table) -> tuple[str, Secret | None] | None:
    """A `postgresql://` (or `postgres://`) state: the URL with any inline password taken
    out (the URL is shown by check-config and status; the password never is)."""
    if not t.given("state") or not isinstance(t.raw["state"], str):
        return None
    got = t.optional_secret("state", what="the state database URL")
    if got is None or not got.value.startswith(POSTGRES_SCHEMES):
        return None
    url = urlsplit(got.value)
    if (not url.hostname and "host=" not in url.query) or len(url.path) < 2:
        raise t.error("state", "expected postgresql://user@host[:port]/database")
    if url.password is None:
        return got.value, None
    netloc = url.netloc.rsplit("@", 1)[1]
    user = f"{url.username}@" if url.username else ""
    bare = urlunsplit(url._replace(netloc=f"{user}{netloc}"))
    return bare, Secret(unquote(url.password), got.source)


def _password(t: Table, url: str | None, inline: Secret | None) -> Secret | None:
    got = t.optional_secret("state_password", what="the database password")
    key = "state_password_file" if t.given("state_password_file") else "state_password"
    if got is not None and url is None:
        raise t.error(key, "expected only with a postgresql:// state")
    if got is not None and inline is not None:
        raise t.error(key, "expected the password either in the state URL or here, not both")
    return Secret(got.value, got.source) if got else inline


def _state(t: Table, env: Mapping[str, str]) -> Path:
    """Given: as written. Not given: `ftmon-state.db` under $STATE_DIRECTORY when set."""
    if t.given("state"):
        text = t.text("state")
        if not text:
            raise t.error("state", 'expected the path of the SQLite state file, got ""')
        return Path(text)
    state_directory = env.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state_directory, DEFAULT_STATE_FILE) if state_directory else _MONITOR.state


def _heartbeat(t: Table) -> Secret | None:
    got = t.optional_secret("heartbeat_url", what="a heartbeat URL")
    if got is None:
        return None
    if not is_http_url(got.value):
        key = "heartbeat_url_file" if t.given("heartbeat_url_file") else "heartbeat_url"
        raise t.error(key, f"expected an http:// or https:// URL (from {got.source})")
    return Secret(got.value, got.source)


def _thresholds(t: Table) -> Thresholds:
    d = _THRESHOLDS
    return Thresholds(
        queue_stall=t.duration("queue_stall", d.queue_stall),
        progress_stall=t.duration("progress_stall", d.progress_stall),
        eta_grace=t.duration("eta_grace", d.eta_grace),
        provider_down=t.duration("provider_down", d.provider_down),
        repeat=t.duration("repeat", d.repeat),
        loss_spike_factor=t.number("loss_spike_factor", d.loss_spike_factor, above=1.0),
    )


def _providers(top: Table, poll_interval: timedelta) -> tuple[ProviderConfig, ...]:
    tables = top.tables("providers", _PROVIDER_KEYS)
    if not tables:
        raise top.error(
            "providers", 'expected at least one [[providers]] table (kind "together" or "openai")'
        )
    seen: dict[str, str] = {}
    return tuple(_provider(t, seen, poll_interval) for t in tables)


def _provider(t: Table, seen: dict[str, str], poll_interval: timedelta) -> ProviderConfig:
    name = unique_name(t, seen, "together-prod")
    kind = t.choice("kind", ProviderKind)
    got = api_key(t, "api_key")
    secret = webhook_secret(t, kind is ProviderKind.OPENAI)
    return ProviderConfig(
        name=name,
        kind=kind,
        api_key=Secret(got.value, got.source),
        base_url=http_url(t, "base_url", DEFAULT_BASE_URLS[kind]),
        jobs=t.strings("jobs"),
        lookback=t.duration("lookback", _LOOKBACK),
        webhook_secret=None if secret is None else Secret(secret.value, secret.source),
        webhook_poll_interval=webhook_poll_interval(
            t, secret is not None, poll_interval, MAX_WEBHOOK_POLL
        ),
        watch=job_match(t.table("watch", MATCHER_KEYS)),
        max_response_mb=megabytes(t, "max_response_mb", DEFAULT_MAX_RESPONSE_MB),
    )


def _channels(top: Table) -> tuple[ChannelConfig, ...]:
    seen: dict[str, str] = {}
    channels = []
    for t in top.tables("channels", _CHANNEL_KEYS):
        name = unique_name(t, seen, "ml-slack")
        got = t.secret("url", what="an apprise URL")
        channels.append(ChannelConfig(name=name, url=Secret(got.value, got.source)))
    return tuple(channels)


def _route(t: Table, providers: Sequence[str], channels: Sequence[str]) -> RouteConfig:
    return RouteConfig(
        kinds=kind_globs(t, "kinds", [kind.value for kind in Kind]),
        min_severity=t.choice("min_severity", Severity, Severity.INFO),
        providers=references(t, "providers", providers),
        channels=_route_channels(t, channels),
        group_wait=t.duration("group_wait", _GROUP_WAIT, zero_ok=True, at_most=MAX_GROUP_WAIT),
        quiet_hours=_quiet_hours(t),
        match=job_match(t),
    )


def _route_channels(t: Table, known: Sequence[str]) -> tuple[str, ...]:
    names = references(t, "channels", known)
    if not names:
        raise t.error("channels", "expected at least one name of a [[channels]] table")
    return names


def _quiet_hours(t: Table) -> QuietHours | None:
    window = quiet_window(t, "quiet_hours")
    if window is None:
        return None
    start, end, tz = window
    return QuietHours(start=start, end=end, tz=tz)
