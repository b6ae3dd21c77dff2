"""The dead man's switch: ping `[monitor] heartbeat_url` after every poll cycle.

After a successful cycle: GET the URL. After a failed one: GET `<url>/fail` when the URL
is a Healthchecks.io (or self-hosted Healthchecks) ping URL, which understands that
suffix; any other service only ever sees success pings, so its silence is the alarm.
A ping never raises and never logs the URL (it carries the check's token): a failure is
logged as `heartbeat_failed` with the error type (and the HTTP status, if any).

Pass a plain client, never a provider's: a provider client carries an API key in its
default headers, and the heartbeat host must not receive it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog

from monitor.core.settings import Secret

log = structlog.get_logger(__name__)

TIMEOUT = 10.0  # seconds; the ping must never hold up the next cycle for long
_HEALTHCHECKS_HOSTS = ("hc-ping.com", "healthchecks.io")


def is_healthchecks_url(url: str) -> bool:
    """hc-ping.com (and subdomains), or a self-hosted Healthchecks' `/ping/...` path."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if any(host == h or host.endswith("." + h) for h in _HEALTHCHECKS_HOSTS):
        return True
    return parts.path.startswith("/ping/") and len(parts.path) > len("/ping/")


def fail_url(url: str) -> str:
    """`https://hc-ping.com/<uuid>?rid=1` -> `https://hc-ping.com/<uuid>/fail?rid=1`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


async def ping(client: httpx.AsyncClient, url: Secret, ok: bool) -> bool:
    """Ping after a cycle; True when the ping was answered 2xx, False when skipped or failed."""
    target = url.reveal()
    if not ok:
        if not is_healthchecks_url(target):
            return False
        target = fail_url(target)
    try:
        response = await client.get(target, timeout=TIMEOUT)
    except Exception as exc:  # a heartbeat must never take the daemon down
        log.warning("heartbeat_failed", ok=ok, error=type(exc).__name__)
        return False
    if not response.is_success:
        log.warning("heartbeat_failed", ok=ok, error="HTTPStatus", status=response.status_code)
        return False
    log.debug("heartbeat_sent", ok=ok)
    return True
