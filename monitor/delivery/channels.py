"""Channels: the only module that imports apprise. One apprise instance per channel.

apprise (and its ~130 plugins) is imported on first use, not with this module: a
`run --once` with nothing to send never loads it (see `delivery.lazy`).

Each configured channel gets its own `apprise.Apprise` holding its one URL, so each has
its own result, attempts and error. apprise blocks (and sleeps to throttle), so a send
runs in a worker thread. What the message looks like is decided from the URL's plugin:
its default body format (markdown for Slack, html for email, text for json/form
webhooks) and its length limits.

Failures are classified from what apprise logged during the send (apprise 2 records
each attempt's log lines on its result, per call, so concurrent sends never mix):
HTTP 4xx except 408/429 and SMTP 5xx (bad credentials, refused recipient) are permanent;
connection errors, timeouts, 5xx and 429 are transient. apprise's debug lines carry
webhook tokens, so the `apprise` logger is kept out of the process's log handlers; the
error we keep is our own summary with every secret part of the URL scrubbed out.
A channel URL is only ever shown in apprise's privacy form with every part that may be a
token (path segments, query values, credentials) masked too (`privacy_url`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from monitor.core.errors import ConfigError
from monitor.core.render import BodyFormat, Message
from monitor.core.settings import ChannelConfig
from monitor.delivery.bounded import Abandoned, call_bounded

DEFAULT_BODY_LIMIT = 32_768
MARKDOWN_HEADROOM = 0.9  # Slack's dialect conversion (links, escapes) may grow the body
CONNECT_TIMEOUT = 5.0  # seconds to connect to a receiver (apprise's `cto`)
READ_TIMEOUT = 30.0  # seconds for each read of its answer (apprise's `rto`)
SEND_TIMEOUT = 45.0  # seconds for a whole send, after which it is abandoned (`bounded`)
LOCK_WAIT = 5.0  # seconds a send waits for the channel's previous, abandoned, send


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """One send's outcome. `message_only`: it failed on this message's own content (a
    plugin that raised on it, a 413), so the channel's other messages still go."""

    ok: bool
    retryable: bool = False
    error: str | None = None
    message_only: bool = False


class Channel(Protocol):
    """What the dispatcher needs of a channel; `AppriseChannel` is the real one."""

    name: str

    @property
    def fmt(self) -> BodyFormat: ...
    @property
    def body_limit(self) -> int: ...
    @property
    def title_limit(self) -> int: ...

    async def send(self, message: Message) -> SendResult: ...


class AppriseChannel:
    def __init__(self, name: str, url: str, *, timeout: float = SEND_TIMEOUT) -> None:
        _prepare_apprise()
        plugin = _instantiate(url)
        if plugin is None:
            raise ValueError(_unusable(url))
        self.name = name
        self._secrets = secret_parts(url)
        self.shown = scrub(str(plugin.url(privacy=True)), _shown_secrets(url))
        self.fmt = _format_of(plugin)
        self.body_limit, self.title_limit = _limits(plugin, self.fmt)
        _set_socket_timeouts(plugin, url)
        self._timeout = timeout
        self.fingerprint = fingerprint(name, url)
        self._apprise = _apprise().Apprise(asset=_asset())
        self._apprise.add(plugin)
        self._lock = threading.Lock()

    async def send(self, message: Message) -> SendResult:
        """The send, awaited at most `SEND_TIMEOUT`: past it the receiver is counted as
        having failed (the message is tried again later, so a receiver that took it
        after all gets it twice: the documented trade for never hanging)."""
        try:
            return await call_bounded(
                lambda: self._send_blocking(message), self._timeout, name=f"send-{self.name}"
            )
        except Abandoned as exc:
            return SendResult(ok=False, retryable=True, error=f"timed out ({exc})")

    def _send_blocking(self, message: Message) -> SendResult:
        apprise = _apprise()
        if not self._lock.acquire(timeout=LOCK_WAIT):
            return SendResult(ok=False, retryable=True, error="an earlier send is still running")
        try:
            try:
                result = self._apprise.notify(
                    body=message.body,
                    title=message.title,
                    notify_type=apprise.NotifyType(message.notify_type),
                    body_format=apprise.NotifyFormat(self.fmt),
                    timeout=self._timeout,
                    log_level=logging.DEBUG,
                )
            except Exception as exc:  # the boundary: a plugin bug must not stop delivery
                error = scrub(f"apprise raised {type(exc).__name__}", self._secrets)
                return SendResult(ok=False, retryable=True, error=error, message_only=True)
            with result:
                status = result.status
                lines = [(entry.level, entry.message) for entry in result.logs()]
        finally:
            self._lock.release()
        if status == apprise.AppriseResultStatus.SUCCESS:
            return SendResult(ok=True)
        if status == apprise.AppriseResultStatus.TIMEOUT:
            return SendResult(ok=False, retryable=True, error="timed out")
        retryable, error = classify(lines)
        too_big = error.startswith("HTTP 413")  # this message, not the channel
        return SendResult(
            ok=False,
            retryable=retryable or too_big,
            error=scrub(error, self._secrets),
            message_only=too_big,
        )


def build_channels(
    configs: Sequence[ChannelConfig], file: Path | str = "config"
) -> dict[str, AppriseChannel]:
    """One AppriseChannel per configured channel; a URL apprise cannot use is a config error."""
    out: dict[str, AppriseChannel] = {}
    for index, cfg in enumerate(configs):
        try:
            out[cfg.name] = AppriseChannel(cfg.name, cfg.url.reveal())
        except ValueError as exc:
            raise ConfigError(str(file), f"channels[{index}].url ({cfg.name})", str(exc)) from None
    return out


def check_url(url: str) -> str | None:
    """None when apprise can use `url`; else why not (never quoting the URL's secrets)."""
    _prepare_apprise()
    return None if _instantiate(url) is not None else _unusable(url)


def privacy_url(url: str) -> str:
    """The only form in which a channel URL is ever shown: apprise's, secrets masked, and
    every part of the URL that may be a token (a webhook's path, say) masked too."""
    _prepare_apprise()
    plugin = _instantiate(url)
    if plugin is None:
        return f"{_scheme(url)}://(unusable URL)"
    return scrub(str(plugin.url(privacy=True)), _shown_secrets(url))


# -- classifying a failed send ----------------------------------------------------------

_HTTP = re.compile(r"error=(\d{3})\b")
_SMTP = re.compile(r"\((\d{3}), b?['\"]([^'\"]*)['\"]\)|was refused: (\d{3}) (.*)$")
_TRANSIENT_WORDS = (
    ("connection refused", "connection refused"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("name or service not known", "host name not resolved"),
    ("temporary failure in name resolution", "host name not resolved"),
    ("connection error", "connection failed"),
    ("connection reset", "connection reset"),
)
_PERMANENT_WORDS = (
    ("auth extension not supported", "the SMTP server offers no login (AUTH)"),
    ("certificate verify failed", "TLS certificate rejected"),
    ("there are no email recipients", "no email recipients in the URL"),
    ("is currently disabled", "the service is disabled in apprise"),
)


def classify(logged: Iterable[tuple[str, str]]) -> tuple[bool, str]:
    """(retryable, error) from the (level, message) lines apprise logged during a failed send.

    Debug lines are read for status codes only; only a warning or error line is ever quoted.
    """
    entries = list(logged)
    text = [message for _, message in entries]
    for line in text:
        if m := _HTTP.search(line):
            code = int(m.group(1))
            return _http_retryable(code), f"HTTP {code} {_phrase(code)}".rstrip()
        if m := _SMTP.search(line):
            code = int(m.group(1) or m.group(3))
            reply = (m.group(2) or m.group(4) or "").strip()
            return code < 500, f"SMTP {code} {reply}".rstrip()
    lowered = " ".join(text).lower()
    for needle, error in _PERMANENT_WORDS:
        if needle in lowered:
            return False, error
    for needle, error in _TRANSIENT_WORDS:
        if needle in lowered:
            return True, error
    shown = [m for level, m in entries if level in ("WARNING", "ERROR", "CRITICAL") and m.strip()]
    return True, f"send failed: {shown[-1][:200]}" if shown else "send failed (no detail logged)"


def _set_socket_timeouts(plugin: Any, url: str) -> None:
    """Explicit connect and read timeouts (apprise's default read timeout is 4 s, which
    counts a receiver answering in 5 s as failed and sends the message again), unless
    the URL sets its own `cto=` / `rto=`."""
    query = dict(parse_qsl(urlsplit(url).query))
    if "cto" not in query:
        plugin.socket_connect_timeout = CONNECT_TIMEOUT
    if "rto" not in query:
        plugin.socket_read_timeout = READ_TIMEOUT


def _http_retryable(code: int) -> bool:
    return code in (408, 429) or not 400 <= code < 500


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def fingerprint(name: str, url: str) -> str:
    """A slow, salted digest of the URL: tells a changed URL without storing the secret."""
    digest = hashlib.pbkdf2_hmac("sha256", url.encode(), f"ftmon:{name}".encode(), 20_000)
    return digest.hex()[:32]


def secret_parts(url: str) -> list[str]:
    """Every part of `url` that may be a secret: credentials, path segments, query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.username or "", parts.password or "", parts.netloc]
    found += [unquote(seg) for seg in parts.path.split("/")]
    found += [value for _, value in parse_qsl(parts.query)]
    return sorted({p for p in found if len(p) >= 4}, key=len, reverse=True)


def _shown_secrets(url: str) -> list[str]:
    """`secret_parts` less a real host name (with a dot, or localhost): shown, it tells
    channels apart; a "host" that is a token (`slack://TOKEN_A/…`) stays masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    host = (parts.hostname or "").lower()
    if "." in host or host == "localhost":
        return [p for p in secret_parts(url) if p not in (parts.netloc, parts.hostname)]
    return secret_parts(url)


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


# -- apprise plumbing -----------------------------------------------------------------

_FORMATS: dict[str, BodyFormat] = {"markdown": "markdown", "html": "html", "text": "text"}
_prepared = threading.Event()


def _apprise() -> Any:
    """apprise itself, imported on first use."""
    import apprise

    return apprise


def _prepare_apprise() -> None:
    """Once: keep apprise's debug lines for our per-send capture only (never the process's
    log handlers), and load its plugins, hiding the stdlib deprecation one of them triggers
    on import (`imghdr`, via its PGP helper) — not ours to fix, and noise to an operator."""
    if _prepared.is_set():
        return
    apprise = _apprise()
    from apprise.manager_plugins import NotificationManager

    log = logging.getLogger(apprise.LOGGER_NAME)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*'imghdr' is deprecated", DeprecationWarning)
        NotificationManager().load_modules()  # type: ignore[no-untyped-call]
    _prepared.set()


def _asset() -> Any:
    return _apprise().AppriseAsset(storage_mode="memory")


def _instantiate(url: str) -> Any:
    try:
        return _apprise().Apprise.instantiate(url, asset=_asset(), suppress_exceptions=True)
    except Exception:  # apprise promises None for a bad URL; be sure of it
        return None


def _unusable(url: str) -> str:
    return (
        f"apprise cannot use this {_scheme(url)}:// URL (unknown service, or a required "
        "part such as a token or host is missing or malformed)"
    )


def _scheme(url: str) -> str:
    return url.split("://", 1)[0][:20] if "://" in url else "(no scheme)"


def _format_of(plugin: Any) -> BodyFormat:
    """The plugin's own default (or its `?format=`): markdown for Slack, html for email."""
    chosen = plugin.resolve_format(None)
    return _FORMATS.get(str(getattr(chosen, "value", chosen)), "text")


def _limits(plugin: Any, fmt: BodyFormat) -> tuple[int, int]:
    body = int(plugin.body_maxlen) if int(plugin.body_maxlen) > 0 else DEFAULT_BODY_LIMIT
    if fmt == "markdown":
        body = int(body * MARKDOWN_HEADROOM)
    return body, int(plugin.title_maxlen)
