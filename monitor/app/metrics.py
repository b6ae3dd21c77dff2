"""Prometheus metrics for ftmon, on a registry of its own (never the process-global one).

Keep one `Metrics` for the whole process, across config reloads (call `prepare` with
the new provider and channel names), so counters only go back to zero when ftmon
restarts. The daemon calls the typed methods; `/metrics` serves `render()`. Series:

    ftmon_polls_total{provider,outcome}               outcome: ok | error
    ftmon_provider_requests_total{provider,status}    HTTP status code, or "error"
    ftmon_alerts_total{kind,severity}                 every alert raised (enqueued)
    ftmon_deliveries_total{channel,outcome}           sent | retry | failed | given_up
    ftmon_outbox_depth                                rows not yet delivered everywhere
    ftmon_cycle_duration_seconds{provider}            histogram, one poll of a provider
    ftmon_last_success_timestamp_seconds{provider}    Unix time of the last good poll
    ftmon_unmatched_alerts_total                      alerts that matched no route
    ftmon_webhooks_total{provider,outcome}            webhook deliveries by outcome
                                                      (`webhooks.OUTCOMES`)
    ftmon_http_dropped_total{reason}                  connections closed or refused by
                                                      the web server's guard
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from monitor.core.alerts import Alert

DELIVERY_OUTCOMES = frozenset({"sent", "retry", "failed", "given_up"})
TRANSPORT_ERROR = "error"
CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """Every ftmon metric, registered on `self.registry`.

    `providers` and `channels` pre-create their zero-valued series, so a rate() over a
    counter that has not moved yet is 0 rather than missing.
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, *, providers: Iterable[str] = (), channels: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._polls = Counter(
            "ftmon_polls",
            "Poll cycles per provider, by outcome.",
            ["provider", "outcome"],
            registry=r,
        )
        self._requests = Counter(
            "ftmon_provider_requests",
            "Provider API responses by HTTP status code ('error' for transport failures).",
            ["provider", "status"],
            registry=r,
        )
        self._alerts = Counter(
            "ftmon_alerts",
            "Alerts raised, by kind and severity.",
            ["kind", "severity"],
            registry=r,
        )
        self._deliveries = Counter(
            "ftmon_deliveries",
            "Delivery attempts per channel: sent, retry, failed (permanent) or given_up.",
            ["channel", "outcome"],
            registry=r,
        )
        self._outbox = Gauge(
            "ftmon_outbox_depth", "Outbox rows not yet delivered to every channel.", registry=r
        )
        self._duration = Histogram(
            "ftmon_cycle_duration_seconds",
            "Time one poll of a provider took, in seconds.",
            ["provider"],
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self._last_success = Gauge(
            "ftmon_last_success_timestamp_seconds",
            "Unix time of the last successful poll of a provider.",
            ["provider"],
            registry=r,
        )
        self._unmatched = Counter(
            "ftmon_unmatched_alerts",
            "Alerts that matched no route (logged, not sent).",
            registry=r,
        )
        self._webhooks = Counter(
            "ftmon_webhooks",
            "Webhook deliveries received, by provider and outcome.",
            ["provider", "outcome"],
            registry=r,
        )
        self._http_dropped = Counter(
            "ftmon_http_dropped",
            "Web connections closed or refused: timeout, evicted, refused, too_large, malformed.",
            ["reason"],
            registry=r,
        )
        self._leader = Gauge(
            "ftmon_leader",
            "1 while this replica leads the provider's polling (a shared state), else 0.",
            ["provider"],
            registry=r,
        )
        self._epoch = Gauge(
            "ftmon_lease_epoch",
            "The epoch of the provider's lease as last seen.",
            ["provider"],
            registry=r,
        )
        self._renewals = Counter(
            "ftmon_lease_renewals",
            "Lease rounds per provider: taken, renewed, standby (another leads), lost, failed.",
            ["provider", "outcome"],
            registry=r,
        )
        self._database_up = Gauge(
            "ftmon_state_database_up", "1 while the state database answers, else 0.", registry=r
        )
        self._database_up.set(1)
        self.prepare(providers, channels)

    def lease_round(self, provider: str, outcome: str, *, leading: bool, epoch: int | None) -> None:
        """One take-or-renew of `provider`'s lease and what came of it."""
        self._renewals.labels(provider=provider, outcome=outcome).inc()
        self._leader.labels(provider=provider).set(1 if leading else 0)
        if epoch is not None:
            self._epoch.labels(provider=provider).set(epoch)

    def database_up(self, up: bool) -> None:
        self._database_up.set(1 if up else 0)

    def prepare(self, providers: Iterable[str], channels: Iterable[str]) -> None:
        """Create the zero-valued series of these providers and channels (idempotent)."""
        for provider in providers:
            for outcome in ("ok", "error"):
                self._polls.labels(provider=provider, outcome=outcome)
            self._duration.labels(provider=provider)
        for channel in channels:
            for outcome in sorted(DELIVERY_OUTCOMES):
                self._deliveries.labels(channel=channel, outcome=outcome)

    def poll_done(self, provider: str, ok: bool, duration: float, now: datetime) -> None:
        """One poll of `provider` finished after `duration` seconds; `now` is when."""
        self._polls.labels(provider=provider, outcome="ok" if ok else "error").inc()
        self._duration.labels(provider=provider).observe(max(0.0, duration))
        if ok:
            self._last_success.labels(provider=provider).set(now.timestamp())

    def request(self, provider: str, status: int | None) -> None:
        """One provider API response with `status`, or None for a transport failure.

        Event hooks never see a transport failure (there is no response), so the
        provider's error boundary reports those itself with `status=None`.
        """
        label = TRANSPORT_ERROR if status is None else str(status)
        self._requests.labels(provider=provider, status=label).inc()

    def alerts_raised(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self._alerts.labels(kind=str(alert.kind), severity=str(alert.severity)).inc()

    def delivery(self, channel: str, outcome: str) -> None:
        """One delivery attempt on `channel`: sent, retry, failed or given_up."""
        if outcome not in DELIVERY_OUTCOMES:
            raise ValueError(f"unknown delivery outcome {outcome!r}")
        self._deliveries.labels(channel=channel, outcome=outcome).inc()

    def outbox_depth(self, n: int) -> None:
        self._outbox.set(n)

    def unmatched_alert(self, n: int = 1) -> None:
        self._unmatched.inc(n)

    def prepare_webhooks(self, providers: Iterable[str], outcomes: Iterable[str]) -> None:
        """Zero-valued webhook series for these providers (idempotent)."""
        for provider in providers:
            for outcome in outcomes:
                self._webhooks.labels(provider=provider, outcome=outcome)

    def webhook(self, provider: str, outcome: str) -> None:
        """One webhook delivery for `provider` (a configured name, or "(unknown)")."""
        self._webhooks.labels(provider=provider, outcome=outcome).inc()

    def http_dropped(self, reason: str) -> None:
        """The web server closed or refused a connection, for `reason`."""
        self._http_dropped.labels(reason=reason).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every series (`content_type` names it)."""
        return generate_latest(self.registry)
