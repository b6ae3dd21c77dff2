"""Scale mode: ten thousand jobs, served from cached fragments; churn between polls."""

from __future__ import annotations

import contextlib
import socket
import time
from collections import Counter

from monitor.simulator import Simulator
from monitor.simulator.server import SimServer

from .conftest import OPENAI_AUTH, TOGETHER_AUTH, client_for


def test_ten_thousand_together_jobs(sim: Simulator) -> None:
    """The Together list carries all 10,000 jobs, mostly finished, some running/queued;
    after churn it shows the moved jobs and the new submissions."""
    ids = sim.add_synthetic("together", 10_000, seed=3)
    assert len(set(ids)) == 10_000
    with client_for(sim, TOGETHER_AUTH) as tg:
        jobs = tg.get("/fine-tunes").json()["data"]
        assert len(jobs) == 10_000 and {j["id"] for j in jobs} == set(ids)
        statuses = Counter(j["status"] for j in jobs)
        finished = sum(statuses[s] for s in ("completed", "cancelled", "error", "user_error"))
        assert finished > 8_000 and statuses["completed"] > 6_500
        assert statuses["running"] > 500 and statuses["queued"] + statuses["pending"] > 200
        assert all(j["events"] == [] for j in jobs)
        running = next(j for j in jobs if j["status"] == "running")
        detail = tg.get(f"/fine-tunes/{running['id']}").json()
        assert detail["events"][0]["type"] == "JOB_PENDING" and detail["started_at"]

        report = sim.churn(0.05)
        assert len(report["changed"]) >= 50 and len(report["new"]) >= 1
        after = {j["id"]: j for j in tg.get("/fine-tunes").json()["data"]}
        assert len(after) == 10_000 + len(report["new"])
        assert all(after[i]["status"] == "pending" for i in report["new"])
        before = {j["id"]: j for j in jobs}
        moved = [i for i in report["changed"] if after[i]["updated_at"] != before[i]["updated_at"]]
        assert len(moved) == len(report["changed"])
    assert sim.stats()["requests"]["GET /v1/fine-tunes"] == 2


def test_openai_scale_pages(sim: Simulator) -> None:
    """2,000 OpenAI jobs page through `after` cursors newest first without repeats."""
    sim.add_synthetic("openai", 2_000, seed=3)
    seen: list[tuple[int, str]] = []
    with client_for(sim, OPENAI_AUTH) as oa:
        params: dict[str, str | int] = {"limit": 100}
        while True:
            page = oa.get("/fine_tuning/jobs", params=params).json()
            seen += [(j["created_at"], j["id"]) for j in page["data"]]
            if not page["has_more"]:
                break
            params["after"] = page["data"][-1]["id"]
    assert len(seen) == 2_000 == len(set(seen))
    assert seen == sorted(seen, reverse=True)


def test_many_connections_at_once_are_all_accepted(sim: Simulator) -> None:
    """A client pool opening 32 connections at the same moment gets them all at once: the
    listen backlog holds them (the default of 5 dropped SYNs, retried a second later)."""
    assert SimServer.request_queue_size >= 32
    addr = ("127.0.0.1", sim.port)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.create_connection(addr, timeout=5)) for _ in range(32)]
        for sock in socks:
            sock.sendall(b"GET /v1/fine-tunes HTTP/1.1\r\nHost: x\r\n\r\n")
        answers = [sock.recv(12) for sock in socks]
    assert all(a.startswith(b"HTTP/1.1 401") for a in answers)
    assert time.monotonic() - started < 0.9  # no SYN retransmission
