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
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import structlog

from monitor.core.errors import ConfigError
from monitor.core.redact import REDACTOR
from monitor.core.settings import LogFormat

LEVEL_ENV = "FTMON_LOG_LEVEL"
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


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
