"""The configuration as frozen records (DESIGN section 5): what the core and shell read.

Parsing and validation live in `monitor.config`; these records are plain values, so the
pure core can take thresholds, routes and quiet hours without touching a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from enum import StrEnum
from pathlib import Path

from monitor.core.alerts import Severity
from monitor.core.model import ProviderKind
from monitor.core.routing import JobMatch


class Secret:
    """A string that never shows itself by accident: repr and str are masked.

    `source` says where the value came from, for display: "env TOGETHER_API_KEY",
    "file /run/credentials/ftmon.service/together", "the config file", or "" if unknown.
    """

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        self._source = source

    def reveal(self) -> str:
        return self._value

    @property
    def source(self) -> str:
        return self._source

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class FirstRun(StrEnum):
    BASELINE = "baseline"
    ALERT = "alert"


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorSettings:
    state: Path = Path("ftmon-state.db")
    poll_interval: timedelta = timedelta(seconds=60)
    first_run: FirstRun = FirstRun.BASELINE
    log_format: LogFormat = LogFormat.AUTO
    listen: str = ""
    heartbeat_url: Secret | None = None
    label_metadata: tuple[str, ...] = ()  # metadata keys the label line carries
    # A PostgreSQL state (`state = "postgresql://…"`): the URL without its password, and
    # the password (inline in the URL, or state_password[_file]); None keeps SQLite.
    database: str | None = None
    database_password: Secret | None = None
    lease: timedelta = timedelta(seconds=15)  # a provider's leader holds it this long
    lease_renew: timedelta = timedelta(seconds=5)  # and renews it this often


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    queue_stall: timedelta = timedelta(hours=1)
    progress_stall: timedelta = timedelta(minutes=45)
    eta_grace: timedelta = timedelta(minutes=20)
    provider_down: timedelta = timedelta(minutes=10)
    repeat: timedelta = timedelta(hours=4)
    loss_spike_factor: float = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Incidents:
    """When many jobs of one provider hit provider-side trouble at once (`incidents`)."""

    enabled: bool = True
    min_jobs: int = 3  # distinct jobs within `window` that make an incident
    window: timedelta = timedelta(minutes=30)  # and quiet this long ends it
    hold: timedelta = timedelta(minutes=3)  # a per-job alert waits this long once a burst starts


DEFAULT_MAX_RESPONSE_MB = 32  # a larger provider answer is refused (a poll error), never kept


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderConfig:
    name: str
    kind: ProviderKind
    api_key: Secret
    base_url: str
    jobs: tuple[str, ...] = ()
    lookback: timedelta = timedelta(days=7)
    webhook_secret: Secret | None = None  # OpenAI's signing secret: webhooks accepted
    webhook_poll_interval: timedelta | None = None  # poll this slowly while webhooks arrive
    watch: JobMatch = field(default_factory=JobMatch)  # jobs it does not take: not followed
    max_response_mb: int = DEFAULT_MAX_RESPONSE_MB


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConfig:
    name: str
    url: Secret


@dataclass(frozen=True, slots=True, kw_only=True)
class QuietHours:
    """A daily window in a time zone; `start > end` means it spans midnight."""

    start: time
    end: time
    tz: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteConfig:
    channels: tuple[str, ...]
    kinds: tuple[str, ...] = ("*",)
    min_severity: Severity = Severity.INFO
    providers: tuple[str, ...] = ()
    group_wait: timedelta = timedelta(seconds=30)
    quiet_hours: QuietHours | None = None
    match: JobMatch = field(default_factory=JobMatch)  # job matchers: model, suffix, ...


class Period(StrEnum):
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """A spending limit on the net cost (charges less refunds) of the jobs submitted in
    each day or month: `monitor.budget` at `warning` and at `failure` (USD; None: none)."""

    name: str
    period: Period
    providers: tuple[str, ...] = ()  # empty: every provider
    warning: float | None = None
    failure: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CostSettings:
    """`[cost]` and `[[budgets]]`: where days and months begin, the opt-in daily digest."""

    timezone: str = "UTC"
    digest: bool = False
    digest_at: time = time(8, 0)  # local time (`timezone`) after which yesterday is told
    budgets: tuple[Budget, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    file: Path
    monitor: MonitorSettings
    thresholds: Thresholds
    providers: tuple[ProviderConfig, ...]
    channels: tuple[ChannelConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    cost: CostSettings = field(default_factory=CostSettings)
    incidents: Incidents = field(default_factory=Incidents)

    def provider(self, name: str) -> ProviderConfig:
        return next(p for p in self.providers if p.name == name)

    def secrets(self) -> tuple[Secret, ...]:
        """Every secret in the config, for masking output and redacting logs."""
        m = self.monitor
        found = [p.api_key for p in self.providers] + [c.url for c in self.channels]
        found += [p.webhook_secret for p in self.providers if p.webhook_secret is not None]
        optional = (m.heartbeat_url, m.database_password)
        found += [s for s in optional if s is not None]
        return tuple(found)
