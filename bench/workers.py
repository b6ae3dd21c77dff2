"""The measured side, one process per measurement: `python -m bench.workers KIND ...`.

Orders arrive as JSON lines on stdin and each gets one JSON line back on stdout:

    {"op": "cycle", "now": ISO}   -> {"wall": s, "cpu": s, "logs": [job ids], "ok": bool}
    {"op": "exit"}                -> {"maxrss_mib": peak resident set of this process}

`ftmon` runs ftmon's real poll cycle: `wiring.open_runtime` (real clients, real SQLite
file) and `wiring.poll_all`, its clock pinned to the simulator's `now`. `sdk` runs the
loop a user would write with the official SDKs: list every job (auto-paging), retrieve
each one, read each one's whole event log; sequential, default client settings.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import resource
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import structlog

EVENTS_SUFFIX = "/events"
# A retrieved Together job carries its whole log: ftmon reads a Together log that way.
TOGETHER_JOB = re.compile(r"/fine-tunes/(ft-[^/]+)$")


class RecordingTransport(httpx.AsyncBaseTransport):
    """The default transport (same pool limits), noting which job logs were read (an
    `/events` read, or a Together retrieve, which brings the log)."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._inner = httpx.AsyncHTTPTransport(limits=limits)
        self.logs: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith(EVENTS_SUFFIX):
            self.logs.append(path[: -len(EVENTS_SUFFIX)].rsplit("/", 1)[-1])
        elif match := TOGETHER_JOB.search(path):
            self.logs.append(match.group(1))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def ftmon_config(base_url: str, state: Path) -> Any:
    from monitor.core.model import ProviderKind
    from monitor.core.settings import Config, MonitorSettings, ProviderConfig, Secret, Thresholds

    providers = tuple(
        ProviderConfig(name=f"{kind}-sim", kind=kind, api_key=Secret(key), base_url=base_url)
        for kind, key in (
            (ProviderKind.TOGETHER, "sim-together-key"),
            (ProviderKind.OPENAI, "sim-openai-key"),
        )
    )
    return Config(
        file=state.with_suffix(".toml"),
        monitor=MonitorSettings(state=state),
        thresholds=Thresholds(),
        providers=providers,
    )


async def serve_ftmon(args: argparse.Namespace) -> None:
    from monitor.app import wiring
    from monitor.providers.http_client import LIMITS

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    now: list[datetime] = []
    # One transport serves both providers' clients here: give it two clients' pools.
    limits = httpx.Limits(
        max_connections=2 * (LIMITS.max_connections or 0),
        max_keepalive_connections=2 * (LIMITS.max_keepalive_connections or 0),
        keepalive_expiry=LIMITS.keepalive_expiry,
    )
    transport = RecordingTransport(limits)
    config = ftmon_config(args.base_url, Path(args.state))
    runtime = wiring.open_runtime(config, lambda: now[-1], transport=transport)

    async def cycle(order: dict[str, Any]) -> dict[str, Any]:
        now.append(datetime.fromisoformat(order["now"]))
        transport.logs.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        report = await wiring.poll_all(runtime)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        ok = all(o.ok for o in report.outcomes)
        return {"wall": wall, "cpu": cpu, "logs": sorted(set(transport.logs)), "ok": ok}

    try:
        await serve(cycle)
    finally:
        await runtime.aclose()


def sdk_loop(args: argparse.Namespace) -> Callable[[dict[str, Any]], dict[str, Any]]:
    import openai
    import together

    root = args.base_url.removesuffix("/v1")
    tg = together.Together(base_url=root, api_key="sim-together-key")
    oa = openai.OpenAI(base_url=args.base_url, api_key="sim-openai-key")

    def cycle(order: dict[str, Any]) -> dict[str, Any]:
        wall, cpu = time.perf_counter(), time.process_time()
        logs = []
        for job in tg.fine_tuning.list().data:
            tg.fine_tuning.retrieve(job.id)
            tg.fine_tuning.list_events(job.id)
            logs.append(job.id)
        for oa_job in oa.fine_tuning.jobs.list():
            oa.fine_tuning.jobs.retrieve(oa_job.id)
            for _event in oa.fine_tuning.jobs.list_events(oa_job.id):
                pass
            logs.append(oa_job.id)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return {"wall": wall, "cpu": cpu, "logs": logs, "ok": True}

    return cycle


async def serve(cycle: Callable[[dict[str, Any]], Any]) -> None:
    """Answer orders until `exit`; `cycle` may be a coroutine function."""
    for line in sys.stdin:
        order = json.loads(line)
        if order["op"] == "exit":
            break
        answer = cycle(order)
        if hasattr(answer, "__await__"):
            answer = await answer
        reply(answer)
    reply({"maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers")
    parser.add_argument("kind", choices=["ftmon", "sdk"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--state", default="")
    args = parser.parse_args()
    if args.kind == "ftmon":
        anyio.run(serve_ftmon, args)
    else:
        anyio.run(serve, sdk_loop(args))


if __name__ == "__main__":
    main()
