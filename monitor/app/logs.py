"""Logging: one set-up for every entry point; structlog renders every line, JSON or console.

ftmon's own loggers and the standard library's (httpx, apscheduler, asyncio, …) all end in
one handler whose formatter is structlog's `ProcessorFormatter`: in JSON mode every line on
stderr is one JSON object, so a pipeline reading a sidecar's output never meets plain text.
Every configured secret (API keys, the secret parts of channel URLs, the heartbeat URL)
is masked in every line — messages, exceptions and tracebacks included — by the one
`REDACTOR` before rendering.

`$FTMON_LOG_LEVEL` (debug, info, warning, error; default info) sets ftmon's level. Other
libraries log at WARNING and above only, unless the level is debug: httpx would otherwise
write one INFO line per request, where ftmon writes one `poll_completed` line per poll.
apprise's own lines never reach the handler (`delivery.channels` captures them per send).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import structlog

from monitor.core.errors import ConfigError
from monitor.core.redact import REDACTOR
from monitor.core.settings import Config, LogFormat

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


def configure_for(config: Config, env: Mapping[str, str]) -> None:
    """The one set-up for a command that loaded a config: its log format, its secrets
    registered for redaction, the level `$FTMON_LOG_LEVEL` names."""
    configure(
        config.monitor.log_format,
        [s.reveal() for s in config.secrets()],
        level=level_from(env),
    )


OWN_LOGGERS = ("ftmon", "monitor")  # structlog names (`ftmon.*`) and module names


def configure(
    log_format: LogFormat,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    *,
    level: int = logging.INFO,
) -> None:
    """Route structlog and the standard library through one redacting handler on stderr."""
    out = stream or sys.stderr
    REDACTOR.register(secrets)
    use_json = log_format is LogFormat.JSON or (log_format is LogFormat.AUTO and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            REDACTOR.processor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
