"""One logging set-up: every line, the standard library's included, is rendered by structlog."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from monitor.app import logs
from monitor.core.settings import LogFormat

SECRET = "json://127.0.0.1:9091/hooks/Tok3nValue99"


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    logs.configure(LogFormat.JSON, [], io.StringIO())  # leave no handler on the test's stream


def emit_everything() -> None:
    structlog.get_logger("ftmon.test").info("own_event", url=SECRET)
    logging.getLogger("httpx").info("HTTP Request: GET %s", SECRET)
    logging.getLogger("apscheduler.scheduler").info("Adding job tentatively")
    logging.getLogger("apscheduler.executors").warning("Run time of job was missed by %s", "1s")
    try:
        raise RuntimeError(f"failed to reach {SECRET}")
    except RuntimeError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
        structlog.get_logger("ftmon.test").exception("own_crash")


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # every line is JSON, or this raises
    assert all(isinstance(r, dict) for r in records)
    return records


def test_json_mode_renders_every_line_as_json_with_secrets_masked(out: io.StringIO) -> None:
    logs.configure(LogFormat.JSON, [SECRET], out, level=logging.INFO)
    emit_everything()
    records = parsed(out)
    events = [r["event"] for r in records]
    assert events == [
        "own_event",
        "Run time of job was missed by 1s",
        "Task exception was never retrieved",
        "own_crash",
    ]
    assert records[1]["logger"] == "apscheduler.executors"
    assert records[1]["level"] == "warning"
    assert "RuntimeError" in str(records[2]["exception"])
    assert "Tok3nValue99" not in out.getvalue()


def test_a_channel_host_and_port_stay_readable(out: io.StringIO) -> None:
    logs.configure(LogFormat.JSON, [SECRET], out)
    structlog.get_logger("ftmon.test").warning(
        "refused", target="127.0.0.1:9091/hooks/Tok3nValue99"
    )
    assert parsed(out)[0]["target"] == "127.0.0.1:9091/hooks/********"


def test_debug_lets_the_libraries_speak_too(out: io.StringIO) -> None:
    logs.configure(LogFormat.JSON, [SECRET], out, level=logging.DEBUG)
    emit_everything()
    events = [r["event"] for r in parsed(out)]
    assert "Adding job tentatively" in events
    assert any(str(e).startswith("HTTP Request: GET") for e in events)
    assert "Tok3nValue99" not in out.getvalue()


def test_warning_level_silences_ftmon_info(out: io.StringIO) -> None:
    logs.configure(LogFormat.JSON, [], out, level=logging.WARNING)
    structlog.get_logger("ftmon.test").info("quiet")
    structlog.get_logger("monitor.app.web").warning("loud")
    assert [r["event"] for r in parsed(out)] == ["loud"]
