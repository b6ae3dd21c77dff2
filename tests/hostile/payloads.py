"""Together-shaped answers for the hostile provider: valid jobs, and jobs that are not; and
the config of two providers polling it, one of them answered badly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor.core.model import ProviderKind
from monitor.core.settings import Config, FirstRun, Thresholds
from tests.hostile.server import Answer, HostileServer
from tests.pollkit import poll_config, provider

KEY = "tg-hostile-key-0123456789"  # obviously fake; what a provider could echo back
OTHER_KEY = "oa-hostile-key-9876543210"


def job(job_id: str, status: str = "running", **extra: Any) -> dict[str, Any]:
    """A Together job with the three required fields and whatever else is given."""
    return {"id": job_id, "status": status, "created_at": "2026-03-16T09:00:00Z", **extra}


def job_list(*jobs: dict[str, Any]) -> Answer:
    return Answer.json({"data": list(jobs)})


def serve_together(server: HostileServer, prefix: str, *jobs: dict[str, Any]) -> None:
    """`prefix`/fine-tunes lists `jobs`; every job's log, checkpoints and metrics are empty."""
    server.answer(f"{prefix}/fine-tunes", job_list(*jobs))
    server.answer(f"{prefix}/fine-tunes/", Answer.json({"data": []}))


def deep_list(depth: int) -> bytes:
    """A job list whose one job carries a list nested `depth` deep (past any recursion)."""
    return (
        b'{"data": [{"id": "ft-deep", "status": "running", "x": '
        + b"[" * depth
        + b"]" * depth
        + b"}]}"
    )


def endless_list(total_mb: int) -> Iterator[bytes]:
    """A job list `total_mb` MiB long, generated a MiB at a time (never held whole)."""
    item = json.dumps(job("ft-bulk", "completed", note="x" * 900)).encode() + b","
    block = item * (1024 * 1024 // len(item))
    yield b'{"data": ['
    for _ in range(total_mb):
        yield block
    yield json.dumps(job("ft-last")).encode() + b"]}"


def two_providers(tmp: Path, server: HostileServer) -> Config:
    """`good` and `bad`, both Together-shaped, on their own paths of the hostile server."""
    providers = [
        provider(name, ProviderKind.TOGETHER, key, f"{server.url}/{name}")
        for name, key in (("good", OTHER_KEY), ("bad", KEY))
    ]
    down = Thresholds(provider_down=timedelta(minutes=1))
    return poll_config(tmp, providers, first_run=FirstRun.ALERT, thresholds=down)
