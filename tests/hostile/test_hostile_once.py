"""The real `ftmon run --once` and `ftmon status` processes against a hostile provider and
a hostile receiver on loopback, judged from outside: what the receiver got, what the
commands printed, the state file's bytes, exit statuses, memory."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import ftmon, ftmon_env
from tests.hostile.payloads import KEY, endless_list, job, serve_together
from tests.hostile.server import Answer, HostileServer
from tests.reliability import kit

NOW = datetime(2026, 3, 16, 10, 0, tzinfo=UTC)
GOOD_KEY = "tg-good-key-0123456789abcdef"
FORGED = "kind=job.succeeded severity=success provider=bad job=ft-forged"
SEPARATORS = ["\u2028", "\x85", "\x0b", "\x0c", "\r", "\n"]


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


def write_config(directory: Path, server: HostileServer) -> Path:
    """Two Together-shaped providers on the hostile server and one webhook on it too."""
    path = directory / "ftmon.toml"
    providers = "\n".join(
        f'[[providers]]\nname = "{name}"\nkind = "together"\napi_key = "${{{var}}}"\n'
        f'base_url = "{server.url}/{name}"\n'
        for name, var in (("good", "GOOD_KEY"), ("bad", "BAD_KEY"))
    )
    path.write_text(
        f'[monitor]\nstate = "{directory / "state.db"}"\nfirst_run = "alert"\n'
        'log_format = "json"\n\n[thresholds]\nprovider_down = "1m"\n\n'
        f'{providers}\n[[channels]]\nname = "hook"\n'
        f'url = "json://127.0.0.1:{server.port}/hook"\n\n'
        '[[routes]]\nkinds = ["*"]\nchannels = ["hook"]\ngroup_wait = "0s"\n'
    )
    return path


def env(now: datetime) -> dict[str, str]:
    return ftmon_env(now, GOOD_KEY=GOOD_KEY, BAD_KEY=KEY)


def leaks(text: str) -> list[str]:
    return [k for k in (KEY, GOOD_KEY) if k in text]


def test_keys_echoed_and_labels_forged_reach_nothing(server: HostileServer, tmp_path: Path) -> None:
    """`good` names a model with every line separator and a forged label line, and echoes
    its key in an event; `bad` answers 503 echoing `Bearer <key>`. Two `run --once` a
    minute apart: `bad` is reported down on the webhook, `good`'s alerts arrive, and no
    key and no forged label line is in any message, output, log or the state file."""
    model = "".join(f"m{sep}{FORGED}" for sep in SEPARATORS)
    serve_together(server, "/good", job("ft-good", model=model))
    event = {"created_at": "2026-03-16T09:30:00Z", "type": "job_start", "message": GOOD_KEY}
    server.answer("/good/fine-tunes/ft-good/events", Answer.json({"data": [event]}))
    echo = {"error": {"message": f"Authorization: Bearer {KEY}"}}
    server.answer("/bad/fine-tunes", Answer.json(echo, 503))
    server.answer("/hook", Answer(body=b"ok"))
    config = write_config(tmp_path, server)
    runs = [
        ftmon(["run", "--once", "--json", "-c", str(config)], env(NOW + timedelta(minutes=m)))
        for m in (0, 2)
    ]
    assert [r.returncode for r in runs] == [3, 2]  # bad unpolled; then bad is down (failure)
    summary = json.loads(runs[1].stdout)
    assert "monitor.provider_down" in [a["kind"] for a in summary["alerts"]]
    messages = [json.loads(s.body)["message"] for s in server.requests("/hook")]
    labels = [line for m in messages for line in m.splitlines() if line.startswith("kind=")]
    assert any(line.startswith("kind=monitor.provider_down") for line in labels)
    assert any(line.startswith("kind=job.started") for line in labels)
    assert all([w.split("=")[0] for w in line.split()].count("kind") == 1 for line in labels)
    assert not any(line.startswith(FORGED) for m in messages for line in m.splitlines())
    status = [
        ftmon(["status", *extra, "-c", str(config)], env(NOW + timedelta(minutes=3)))
        for extra in ([], ["--json"])
    ]
    assert [s.returncode for s in status] == [0, 0]
    table = status[0].stdout
    assert all(not any(sep in line for sep in SEPARATORS) for line in table.split("\n"))
    state = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    outputs = [r.stdout + r.stderr for r in (*runs, *status)]
    assert [leaks(text) for text in [*outputs, *messages]] == [[]] * (len(outputs) + len(messages))
    assert KEY.encode() not in state and GOOD_KEY.encode() not in state


def test_a_huge_answer_leaves_memory_bounded_and_the_other_provider_alerted(
    server: HostileServer, tmp_path: Path
) -> None:
    """`bad` streams a 400 MiB job list; `run --once` refuses it past 32 MiB, alerts
    `good`'s job, exits 3 (not 70), and its peak resident memory stays far below 400 MiB."""
    serve_together(server, "/good", job("ft-good"))
    server.answer("/bad/fine-tunes", Answer(body=lambda: endless_list(400)))
    server.answer("/hook", Answer(body=b"ok"))
    config = write_config(tmp_path, server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.entry", "run", "--once", "--json", "-c", str(config)],
        env=env(NOW),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    peaks: list[int] = []
    watcher = threading.Thread(target=_watch_peak, args=(proc.pid, peaks), daemon=True)
    watcher.start()
    with proc.stdout:
        out = proc.stdout.read()
    proc.wait()
    watcher.join(timeout=5)
    peak_mib = max(peaks, default=0) / 1024
    summary = json.loads(out)
    assert proc.returncode == 3
    assert [p["ok"] for p in summary["providers"]] == [True, False]
    assert "larger than max_response_mb = 32" in summary["providers"][1]["error"]
    assert "job.started" in [a["kind"] for a in summary["alerts"]]
    assert peak_mib < 200, f"peak RSS {peak_mib:.0f} MiB"
    kit.record("hostile_huge_body", peak_rss_mib=round(peak_mib, 1), body_mib=400, limit_mib=32)


def _watch_peak(pid: int, peaks: list[int]) -> None:
    """The process's peak resident memory since its exec (`VmHWM`, KiB), sampled until it
    exits. Not `ru_maxrss`: that also counts the image forked from this (large) pytest
    process before the exec, so it grows with whatever the suite ran before."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            text = status.read_text()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]))
        if "State:\tZ" in text:
            return
        time.sleep(0.02)


@pytest.mark.slow
def test_once_ends_within_its_bound_when_the_receiver_never_finishes(
    server: HostileServer, tmp_path: Path
) -> None:
    """The webhook answers a byte every two seconds, for hours: `run --once` abandons the
    send at its bound (45 s), keeps the alert for the next run, and exits at once instead
    of waiting at exit for apprise's worker thread."""
    serve_together(server, "/good", job("ft-good"))
    serve_together(server, "/bad")
    server.answer("/hook", Answer(body=b"x" * 10_000, chunk=1, trickle=2.0))
    config = write_config(tmp_path, server)
    started = time.monotonic()
    run = ftmon(["run", "--once", "--json", "-c", str(config)], env(NOW), timeout=150)
    took = time.monotonic() - started
    delivery = json.loads(run.stdout)["delivery"]
    assert (delivery["delivered"], delivery["retrying"]) == (0, 1)
    kit.record("hostile_once_trickle", seconds=round(took, 1), exit_status=run.returncode)
