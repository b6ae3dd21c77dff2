"""Logging: structlog, console on a TTY and JSON otherwise, and no secret ever.

Every configured secret (API keys, channel URLs and the tokens inside them, the
heartbeat URL) is registered here; a processor replaces any occurrence of one in any
log value — messages, exceptions and tracebacks included — before rendering. Standard
library loggers (apprise, httpx) go through the same redaction.

`$FTMON_LOG_LEVEL` (debug, info, warning, error; default info) sets the level; at debug
the standard library loggers (httpx, httpcore) log at debug too, through the same
redaction.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from monitor.config import LogFormat
from monitor.errors import ConfigError

MASK = "********"
LEVEL_ENV = "FTMON_LOG_LEVEL"
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_URL_PARTS = re.compile(r"[/:@?&=#,]+")


class Redactor:
    """Replaces registered secrets (and the token-like parts of secret URLs) with a mask."""

    def __init__(self) -> None:
        self._pattern: re.Pattern[str] | None = None

    def register(self, secrets: Iterable[str]) -> None:
        fragments: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            fragments.add(secret)
            if "://" in secret:
                fragments.update(_url_tokens(secret))
        ordered = sorted(fragments, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern else text

    def processor(
        self, _logger: object, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = self(value)
            elif value is not None and not isinstance(value, int | float | bool):
                event[key] = self(str(value))
        return event


def _url_tokens(url: str) -> set[str]:
    """Userinfo, path and query pieces of a URL long enough to be a token or password, and
    a "host" that is no host name (apprise puts tokens there: `slack://TOKEN_A/…`)."""
    _scheme, _, rest = url.partition("://")
    userinfo, _, _hostpath = rest.rpartition("@")
    pieces = set(_URL_PARTS.split(userinfo)) if userinfo else set()
    host_and_path = rest.split("@")[-1]
    host, _, path = host_and_path.partition("/")
    pieces |= set(_URL_PARTS.split(path))
    name = host.split(":")[0]
    if "." not in name and name not in ("localhost", ""):
        pieces.add(name)
    return {p for p in pieces if len(p) >= 6}


REDACTOR = Redactor()


def level_from(env: Mapping[str, str]) -> int:
    """The log level `$FTMON_LOG_LEVEL` names (info when unset); a ConfigError otherwise."""
    word = env.get(LEVEL_ENV, "").strip().lower() or "info"
    if word not in LEVELS:
        expected = f"expected one of {', '.join(LEVELS)}, got {word!r}"
        raise ConfigError(f"${LEVEL_ENV}", "", expected)
    return LEVELS[word]


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = REDACTOR(record.getMessage())
        record.args = None
        return True


def configure(
    log_format: LogFormat,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    *,
    level: int = logging.INFO,
) -> None:
    """Set up structlog and the standard library loggers; logs go to stderr."""
    out = stream or sys.stderr
    REDACTOR.register(secrets)
    use_json = log_format is LogFormat.JSON or (log_format is LogFormat.AUTO and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            REDACTOR.processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(min(level, logging.WARNING))
