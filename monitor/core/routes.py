"""Routing (DESIGN section 4), pure: which channels an alert goes to, and by which route.

An alert goes to every channel of every route whose kind globs, minimum severity, provider
filter and job matchers (`routing`) all match; the first route naming a channel is the one
whose grouping and quiet hours apply there. Routes are matched once, when the alert is
routed: the route is stored on the delivery row (`RoutedBy`), so a reload does not
regroup rows already routed.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from monitor.core import routing
from monitor.core.alerts import Alert, Kind, Severity, severity_at_least
from monitor.core.deliveries import Decision, Delivery, Reason, RoutedBy
from monitor.core.settings import RouteConfig


def route(alert: Alert, routes: Sequence[RouteConfig]) -> list[tuple[int, tuple[str, ...]]]:
    """(route index, channel names) for every route that takes `alert`."""
    return [(i, r.channels) for i, r in enumerate(routes) if route_matches(alert, r).go]


def route_matches(alert: Alert, r: RouteConfig) -> Decision:
    if not any(fnmatchcase(str(alert.kind), glob) for glob in r.kinds):
        return Decision(go=False, reason=Reason.KIND_NOT_ROUTED)
    if not severity_at_least(alert.severity, r.min_severity):
        return Decision(go=False, reason=Reason.BELOW_MIN_SEVERITY)
    if r.providers and alert.provider not in r.providers:
        return Decision(go=False, reason=Reason.PROVIDER_NOT_ROUTED)
    if not r.match.empty and not routing.matches(r.match, routing.fields_of_alert(alert)):
        return Decision(go=False, reason=Reason.JOB_NOT_ROUTED)
    return Decision(go=True, reason=Reason.ROUTED)


_MONITOR_TOO = {True: " and monitor alerts", False: " (never monitor alerts)"}


def route_words(r: RouteConfig) -> str:
    """What a route takes, in words (check-config, test-notify)."""
    severity = "any severity" if r.min_severity is Severity.INFO else (
        f"severity {r.min_severity} or worse")  # fmt: skip
    providers = " or ".join(r.providers) if r.providers else "any provider"
    return (
        f"{', '.join(r.kinds)} alerts of {severity} from {providers}, about "
        f"{routing.describe(r.match)}{_MONITOR_TOO[r.match.empty]}; "
        f"sent to {', '.join(r.channels)}"
    )


def channels_for(alert: Alert, routes: Sequence[RouteConfig]) -> list[str]:
    """Every channel `alert` goes to, once each, in route order."""
    return list(dict.fromkeys(c for _, chans in route(alert, routes) for c in chans))


def delivery_targets(
    alert: Alert, routes: Sequence[RouteConfig], known: Sequence[str]
) -> dict[str, RoutedBy | None]:
    """The configured channels an alert goes to, each with the first route that names it
    (its grouping and quiet hours apply). Matched once, when the alert is routed.

    A `monitor.channel_failed` alert never goes to the channel it is about; if its routes
    name no other, it goes to every other one (with no route: sent without waiting)."""
    targets: dict[str, RoutedBy | None] = {}
    for i, channels in route(alert, routes):
        for c in channels:
            if c in known and c not in targets:
                targets[c] = RoutedBy.of(i, routes[i])
    if alert.kind is Kind.CHANNEL_FAILED:
        failed = alert.facts.get("channel")
        targets.pop(str(failed), None)
        if not targets:
            targets = {c: None for c in known if c != failed}
    return targets


def routed_by(d: Delivery, routes: Sequence[RouteConfig]) -> RoutedBy | None:
    """The route stored on the row; rows routed by an older ftmon are matched once here."""
    if d.route is not None:
        return d.route
    for i, chans in route(d.alert, routes):
        if d.channel in chans:
            return RoutedBy.of(i, routes[i])
    return None
