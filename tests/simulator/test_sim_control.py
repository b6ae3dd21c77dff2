"""Cross-process control: `/_sim/` over HTTP, and `python -m monitor.simulator`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from monitor.simulator import RealClock, Simulator

from .conftest import TOGETHER_AUTH, client_for

REPO = Path(__file__).parent.parent.parent


def test_control_endpoints_drive_the_simulator(sim: Simulator) -> None:
    """now, advance, scenario, fault, job actions, stats and reset_stats, without auth."""
    with client_for(sim) as control, client_for(sim, TOGETHER_AUTH) as tg:
        root = sim.root_url
        now = control.get(f"{root}/_sim/now").json()
        assert now["now"] == "2026-03-16T09:00:00+00:00"
        made = control.post(
            f"{root}/_sim/scenario", json={"name": "together_restart", "time_scale": 0.01}
        ).json()
        assert made["name"] == "together_restart" and len(made["job_ids"]) == 2
        assert made["job_id"] == made["job_ids"][0]
        assert "together_success" in control.get(f"{root}/_sim/scenarios").json()
        moved = control.post(f"{root}/_sim/advance", json={"seconds": 45}).json()
        assert moved["unix"] == now["unix"] + 45
        assert {j["id"] for j in tg.get("/fine-tunes").json()["data"]} == set(made["job_ids"])

        fault = {"kind": "fail", "status": 529, "count": 1, "provider": "together"}
        assert control.post(f"{root}/_sim/fault", json=fault).json() == {"ok": True}
        assert tg.get("/fine-tunes").status_code == 529
        control.post(f"{root}/_sim/fault", json={"kind": "revoke", "provider": "together"})
        assert tg.get("/fine-tunes").status_code == 401
        control.post(f"{root}/_sim/fault", json={"kind": "clear"})
        control.post(f"{root}/_sim/fault", json={"kind": "vanish", "job_id": made["job_id"]})
        assert tg.get(f"/fine-tunes/{made['job_id']}").status_code == 404
        control.post(
            f"{root}/_sim/fault",
            json={"kind": "status", "job_id": made["job_ids"][1], "status": "odd"},
        )
        assert tg.get(f"/fine-tunes/{made['job_ids'][1]}").json()["status"] == "odd"

        stats = control.get(f"{root}/_sim/stats").json()
        assert stats["requests"]["GET /v1/fine-tunes"] == 3
        assert not any(route.startswith(("GET /_sim", "POST /_sim")) for route in stats["requests"])
        assert control.post(f"{root}/_sim/reset_stats").json() == {"ok": True}
        assert control.get(f"{root}/_sim/stats").json()["total_requests"] == 0

        bad = control.post(f"{root}/_sim/scenario", json={"name": "no_such_thing"})
        assert bad.status_code == 400 and "no_such_thing" in bad.json()["error"]
        assert control.post(f"{root}/_sim/fault", json={"kind": "explode"}).status_code == 400
        assert control.get(f"{root}/_sim/nothing").status_code == 404


def test_control_job_actions_synthetic_and_churn(sim: Simulator) -> None:
    """`/_sim/job` cancels like the API does; `/_sim/synthetic` and `/_sim/churn` scale up."""
    with client_for(sim) as control:
        root = sim.root_url
        job_id = control.post(f"{root}/_sim/scenario", json={"name": "openai_cancel"}).json()[
            "job_id"
        ]
        done = control.post(f"{root}/_sim/job", json={"job_id": job_id, "action": "cancel"}).json()
        assert done == {"ok": True, "refused": None}
        again = control.post(f"{root}/_sim/job", json={"job_id": job_id, "action": "cancel"})
        assert again.json()["ok"] is False
        made = control.post(f"{root}/_sim/synthetic", json={"provider": "openai", "count": 50})
        assert made.json() == {"count": 50}
        churned = control.post(f"{root}/_sim/churn", json={"fraction": 0.5}).json()
        assert churned["new"] and len(sim.job_ids("openai")) == 51 + len(churned["new"])


def test_advance_is_refused_on_a_real_clock() -> None:
    """A real-time simulator cannot be advanced (400 over HTTP, TypeError in process)."""
    with Simulator(clock=RealClock(speed=60)) as sim, client_for(sim) as control:
        response = control.post(f"{sim.root_url}/_sim/advance", json={"seconds": 5})
        assert response.status_code == 400
        before = sim.now
        time.sleep(0.05)
        assert (sim.now - before).total_seconds() >= 3  # 60x the wall clock


def test_standalone_process_prints_url_answers_and_stops_on_sigterm() -> None:
    """`python -m monitor.simulator` prints SIMULATOR_URL, serves, exits 0 on SIGTERM."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor.simulator",
            "--port",
            "0",
            "--scenario",
            "together_success",
            "openai_queue_stuck",
            "--synthetic-openai",
            "30",
            "--time-scale",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("SIMULATOR_URL=http://127.0.0.1:") and line.endswith("/v1")
        base = line.split("=", 1)[1]
        with httpx.Client(base_url=base, verify=False, timeout=10) as client:
            jobs = client.get("/fine-tunes", headers=TOGETHER_AUTH).json()["data"]
            assert [j["status"] for j in jobs] == ["pending"]
            listed = client.get(
                "/fine_tuning/jobs",
                params={"limit": 100},
                headers={"Authorization": "Bearer sim-openai-key"},
            ).json()
            assert len(listed["data"]) == 31
            root = base.removesuffix("/v1")
            jobs_now = client.get(f"{root}/_sim/jobs").json()["jobs"]
            scenarios = sorted(j["scenario"] for j in jobs_now if j["scenario"] != "synthetic")
            assert scenarios == ["openai_queue_stuck", "together_success"]
            client.post(f"{root}/_sim/advance", json={"seconds": 60})
            assert client.get("/fine-tunes", headers=TOGETHER_AUTH).json()["data"][0]["status"] == (
                "completed"
            )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
