"""Fault injection and accounting, observed at the HTTP level."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from monitor.simulator import ManualClock, Simulator

from .conftest import OPENAI_AUTH, START, TOGETHER_AUTH, client_for


@pytest.mark.parametrize("status", [500, 503, 504, 524, 529])
def test_fail_next_requests(sim: Simulator, tg: httpx.Client, status: int) -> None:
    """`fail(status, count=2)`: the next two requests fail with an error body, then not."""
    sim.faults.fail(status, count=2)
    for _ in range(2):
        response = tg.get("/fine-tunes")
        assert response.status_code == status
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert response.json()["error"]["type"] == "server_error"
    assert tg.get("/fine-tunes").status_code == 200


def test_fail_matches_path_glob_and_provider(
    sim: Simulator, tg: httpx.Client, oa: httpx.Client
) -> None:
    """A rule for one provider and path glob leaves every other request alone."""
    handle = sim.add_scenario("together_success")
    sim.faults.fail(503, count=None, path="/v1/fine-tunes/*/events", provider="together")
    assert tg.get(f"/fine-tunes/{handle.job_id}/events").status_code == 503
    assert tg.get(f"/fine-tunes/{handle.job_id}/events").status_code == 503
    assert tg.get(f"/fine-tunes/{handle.job_id}").status_code == 200
    assert oa.get("/fine_tuning/jobs").status_code == 200
    sim.faults.clear()
    assert tg.get(f"/fine-tunes/{handle.job_id}/events").status_code == 200


def test_rate_limit_headers(sim: Simulator, tg: httpx.Client, oa: httpx.Client) -> None:
    """429 with Retry-After and retry-after-ms; provider-specific rate-limit headers."""
    sim.faults.rate_limit(retry_after=3, retry_after_ms=2500, provider="openai")
    sim.faults.rate_limit(retry_after=2, provider="together")
    limited = oa.get("/fine_tuning/jobs")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3" and limited.headers["retry-after-ms"] == "2500"
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    together = tg.get("/fine-tunes")
    assert together.status_code == 429 and together.headers["retry-after"] == "2"
    assert together.headers["x-ratelimit-reset"] == "2"
    assert together.json()["error"]["type"] == "dynamic_request_limited"
    assert oa.get("/fine_tuning/jobs").status_code == 200


def test_insufficient_quota_is_a_different_429(sim: Simulator, oa: httpx.Client) -> None:
    """429 insufficient_quota carries no Retry-After."""
    sim.faults.insufficient_quota()
    response = oa.get("/fine_tuning/jobs")
    assert response.status_code == 429 and "retry-after" not in response.headers
    assert response.json()["error"]["code"] == response.json()["error"]["type"]
    assert response.json()["error"]["code"] == "insufficient_quota"


def test_slow_answer_and_fixed_latency() -> None:
    """`slow(delay)` delays matching requests; `latency` delays every request."""
    with (
        Simulator(clock=ManualClock(START), latency=0.05) as sim,
        client_for(sim, TOGETHER_AUTH) as tg,
    ):
        sim.faults.slow(0.3, path="/v1/fine-tunes")
        started = time.monotonic()
        assert tg.get("/fine-tunes").status_code == 200
        assert time.monotonic() - started >= 0.35
        started = time.monotonic()
        assert tg.get("/fine-tunes").status_code == 200
        assert 0.05 <= time.monotonic() - started < 0.3
        sim.faults.latency = 0


def test_truncated_body_keeps_a_correct_content_length(sim: Simulator, tg: httpx.Client) -> None:
    """`truncate`: half the body, Content-Length matching what was sent, invalid JSON."""
    sim.add_scenario("together_success")
    whole = tg.get("/fine-tunes").content
    sim.faults.truncate()
    cut = tg.get("/fine-tunes")
    assert cut.status_code == 200
    assert int(cut.headers["content-length"]) == len(cut.content) == len(whole) // 2
    assert cut.content == whole[: len(whole) // 2]
    with pytest.raises(json.JSONDecodeError):
        cut.json()


def test_malformed_body(sim: Simulator, oa: httpx.Client) -> None:
    """`malformed`: a complete response whose JSON does not parse."""
    sim.faults.malformed()
    response = oa.get("/fine_tuning/jobs")
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_dropped_connection_mid_body(sim: Simulator, tg: httpx.Client) -> None:
    """`drop`: headers promise the whole body, half arrives, the connection closes."""
    sim.add_scenario("together_success")
    sim.faults.drop()
    with pytest.raises(httpx.RemoteProtocolError):
        tg.get("/fine-tunes")
    assert tg.get("/fine-tunes").status_code == 200  # a new connection works


def test_vanished_job_answers_404_and_leaves_the_lists(
    sim: Simulator, tg: httpx.Client, oa: httpx.Client
) -> None:
    """`vanish(job_id)`: 404 on every job endpoint, gone from the list; `unvanish` undoes it."""
    gone = sim.add_scenario("together_success").job_id
    kept = sim.add_scenario("together_success").job_id
    oa_gone = sim.add_scenario("openai_success").job_id
    oa_kept = sim.add_scenario("openai_success").job_id
    sim.faults.vanish(gone)
    sim.faults.vanish(oa_gone)
    assert tg.get(f"/fine-tunes/{gone}").status_code == 404
    assert tg.get(f"/fine-tunes/{gone}/events").status_code == 404
    assert [j["id"] for j in tg.get("/fine-tunes").json()["data"]] == [kept]
    assert oa.get(f"/fine_tuning/jobs/{oa_gone}").json()["error"]["code"] == "fine_tune_not_found"
    page = oa.get("/fine_tuning/jobs", params={"limit": 1}).json()
    assert [j["id"] for j in page["data"]] == [oa_kept] and page["has_more"] is False
    sim.faults.unvanish(gone)
    assert tg.get(f"/fine-tunes/{gone}").status_code == 200


@pytest.mark.parametrize("status", [401, 403])
def test_revoked_key_and_restore(
    sim: Simulator, tg: httpx.Client, oa: httpx.Client, status: int
) -> None:
    """A revoked key answers 401 (or 403) for its provider only, until restored."""
    sim.faults.revoke("together", status=status)
    response = tg.get("/fine-tunes")
    assert response.status_code == status
    assert response.json()["error"]["code"] in {"invalid_api_key", "permission_denied"}
    assert oa.get("/fine_tuning/jobs").status_code == 200
    sim.faults.restore("together")
    assert tg.get("/fine-tunes").status_code == 200


def test_injected_unknowns_reach_the_payload(
    sim: Simulator, tg: httpx.Client, oa: httpx.Client
) -> None:
    """Unknown statuses, event types and extra fields are served as given."""
    together = sim.add_scenario("together_success").job_id
    openai = sim.add_scenario("openai_success").job_id
    sim.inject_status(together, "hibernating")
    sim.inject_event(together, type="GPU_REBALANCED", message="moved to {another} node")
    sim.inject_fields(together, {"brand_new_field": {"x": 1}})
    sim.inject_status(openai, "created")
    sim.inject_event(openai, type="notice", message="Something new", level="warn")
    job = tg.get(f"/fine-tunes/{together}").json()
    assert job["status"] == "hibernating" and job["brand_new_field"] == {"x": 1}
    assert job["events"][-1]["type"] == "GPU_REBALANCED"
    assert job["events"][-1]["message"] == "moved to {another} node"
    assert tg.get("/fine-tunes").json()["data"][0]["brand_new_field"] == {"x": 1}
    assert oa.get(f"/fine_tuning/jobs/{openai}").json()["status"] == "created"
    newest = oa.get(f"/fine_tuning/jobs/{openai}/events").json()["data"][0]
    assert (newest["type"], newest["level"]) == ("notice", "warn")


def test_stats_count_routes_and_bytes(sim: Simulator, tg: httpx.Client, oa: httpx.Client) -> None:
    """Requests per (method, route template), statuses and body bytes; reset_stats."""
    handle = sim.add_scenario("together_success")
    sizes = [len(tg.get("/fine-tunes").content) for _ in range(2)]
    sizes.append(len(tg.get(f"/fine-tunes/{handle.job_id}/events").content))
    sizes.append(len(tg.post(f"/fine-tunes/{handle.job_id}/cancel").content))
    sizes.append(len(oa.get("/fine_tuning/jobs/nope").content))
    stats = sim.stats()
    assert stats["requests"] == {
        "GET /v1/fine-tunes": 2,
        "GET /v1/fine-tunes/{id}/events": 1,
        "POST /v1/fine-tunes/{id}/cancel": 1,
        "GET /v1/fine_tuning/jobs/{id}": 1,
    }
    assert stats["total_requests"] == 5 and stats["statuses"] == {"200": 4, "404": 1}
    assert stats["bytes_sent"] == sum(sizes)
    sim.reset_stats()
    assert sim.stats()["total_requests"] == 0


def test_keep_alive_reuses_one_connection(sim: Simulator) -> None:
    """HTTP/1.1 keep-alive: many requests over one connection, each with Content-Length."""
    with client_for(sim, OPENAI_AUTH) as client:
        ports = set()
        for _ in range(5):
            response = client.get("/fine_tuning/jobs", extensions={})
            assert response.http_version == "HTTP/1.1" and "content-length" in response.headers
            stream = response.extensions["network_stream"]
            ports.add(stream.get_extra_info("client_addr")[1])
    assert len(ports) == 1


def test_stop_releases_a_request_held_by_a_slow_fault() -> None:
    """Stopping while a slow fault holds a request ends promptly; no thread is left over."""
    sim = Simulator(clock=ManualClock(START)).start()
    sim.faults.slow(30)
    outcome: list[str] = []

    def call() -> None:
        try:
            with client_for(sim, TOGETHER_AUTH) as client:
                outcome.append(str(client.get("/fine-tunes").status_code))
        except httpx.HTTPError as exc:
            outcome.append(type(exc).__name__)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.2)
    started = time.monotonic()
    sim.stop()
    caller.join(timeout=5)
    assert time.monotonic() - started < 3 and not caller.is_alive()
    assert outcome == ["RemoteProtocolError"]


def test_unknown_path_is_404(tg: httpx.Client) -> None:
    """A path neither API has answers 404 with an error body, and is counted as unmatched."""
    response = tg.get("/fine-tunes/ft-x/nonsense")
    assert response.status_code == 404 and "error" in response.json()
