"""`/_sim/…`: the simulator's own control API, for tests that run ftmon in another process.

No auth; JSON in and out; never counted in the stats.

    GET  /_sim/now           -> {now, unix}
    POST /_sim/advance       {"seconds": 90} -> {now, unix}   (manual clock only)
    POST /_sim/scenario      {"name", "time_scale"?, "at"?, "job_id"?, "fields"?}
                             -> {name, provider, job_id, job_ids, start, end}
    GET  /_sim/scenarios     -> {name: description}
    GET  /_sim/jobs          -> {jobs: [{id, provider, status, scenario, created_at}]}
    POST /_sim/fault         {"kind": "fail"|"rate_limit"|"quota"|"slow"|"truncate"|
                              "malformed"|"drop", "count"?, "path"?, "provider"?,
                              "status"?, "delay"?, "retry_after"?, "retry_after_ms"?}
                             {"kind": "vanish"|"unvanish", "job_id"}
                             {"kind": "revoke", "provider", "status"?: 401|403}
                             {"kind": "restore", "provider"}
                             {"kind": "latency", "seconds"}   {"kind": "clear"}
                             {"kind": "status", "job_id", "status"}
                             {"kind": "fields", "job_id", "fields"}
                             {"kind": "event", "job_id", "type", "message", "level"?, "data"?}
                             -> {ok}
    POST /_sim/synthetic     {"provider", "count", "seed"?} -> {count}
    POST /_sim/churn         {"fraction"?} -> {changed, new}
    POST /_sim/job           {"job_id", "action": "cancel"|"pause"|"resume"} -> {ok, refused}
    GET  /_sim/stats         -> {requests, total_requests, statuses, bytes_sent, bytes_by_route}
    POST /_sim/reset_stats   -> {ok}
    POST /_sim/webhooks      {"url"?, "secret"?, "enabled"?, "duplicate"?, "shuffle"?,
                              "backoff"?, "max_attempts"?} -> {settings} (see `webhooks`)
    GET  /_sim/webhooks      -> {settings, deliveries: [...]}  (never the secret)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .api import Reply
from .webhooks import webhook_control
from .world import dumps

if TYPE_CHECKING:
    from .simulator import Simulator

_PAYLOAD_KINDS = {"status", "fields", "event"}


def make_control(sim: Simulator) -> Callable[[str, str, bytes], Reply]:
    def control(method: str, path: str, body: bytes) -> Reply:
        try:
            payload = json.loads(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            handler = _ROUTES.get((method, path))
            if handler is None:
                return Reply(404, dumps({"error": f"no control call {method} {path}"}))
            return Reply(200, dumps(handler(sim, payload)))
        except (KeyError, ValueError, TypeError) as exc:
            return Reply(400, dumps({"error": f"{type(exc).__name__}: {exc}"}))

    return control


def _now(sim: Simulator, _: dict[str, Any]) -> dict[str, Any]:
    return {"now": sim.now.isoformat(), "unix": sim.clock.timestamp()}


def _advance(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    sim.advance(float(body["seconds"]))
    return _now(sim, body)


def _scenario(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    handle = sim.add_scenario(
        str(body["name"]),
        at=float(body.get("at", 0.0)),
        time_scale=float(body.get("time_scale", 1.0)),
        job_id=body.get("job_id"),
        fields=body.get("fields"),
    )
    return {
        "name": handle.name,
        "provider": handle.provider,
        "job_id": handle.job_id,
        "job_ids": list(handle.job_ids),
        "start": handle.start.isoformat(),
        "end": handle.end.isoformat(),
    }


def _fault(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    kind = body.get("kind")
    faults = sim.faults
    if kind == "vanish":
        faults.vanish(str(body["job_id"]))
    elif kind == "unvanish":
        faults.unvanish(str(body["job_id"]))
    elif kind == "revoke":
        faults.revoke(str(body["provider"]), status=int(body.get("status", 401)))
    elif kind == "restore":
        faults.restore(str(body["provider"]))
    elif kind == "latency":
        faults.latency = float(body["seconds"])
    elif kind == "clear":
        faults.clear()
    elif kind in _PAYLOAD_KINDS:
        job_id = str(body["job_id"])
        if kind == "status":
            sim.inject_status(job_id, str(body["status"]))
        elif kind == "fields":
            sim.inject_fields(job_id, dict(body["fields"]))
        else:
            sim.inject_event(
                job_id,
                type=str(body["type"]),
                message=str(body["message"]),
                level=body.get("level"),
                data=body.get("data"),
            )
    else:
        faults.add(body)
    return {"ok": True}


def _synthetic(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    ids = sim.add_synthetic(
        body.get("provider", "together"), int(body.get("count", 1000)), body.get("seed")
    )
    return {"count": len(ids)}


def _churn(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    return sim.churn(float(body.get("fraction", 0.05)))


def _job(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    actions = {"cancel": sim.cancel, "pause": sim.pause, "resume": sim.resume}
    refused = actions[str(body["action"])](str(body["job_id"]))
    return {"ok": refused is None, "refused": refused}


def _stats(sim: Simulator, _: dict[str, Any]) -> dict[str, Any]:
    return sim.stats()


def _reset_stats(sim: Simulator, _: dict[str, Any]) -> dict[str, Any]:
    sim.reset_stats()
    return {"ok": True}


_ROUTES: dict[tuple[str, str], Callable[[Simulator, dict[str, Any]], dict[str, Any]]] = {
    ("GET", "/_sim/now"): _now,
    ("POST", "/_sim/advance"): _advance,
    ("POST", "/_sim/scenario"): _scenario,
    ("GET", "/_sim/scenarios"): lambda sim, _: sim.catalogue(),
    ("GET", "/_sim/jobs"): lambda sim, _: {"jobs": sim.jobs()},
    ("POST", "/_sim/fault"): _fault,
    ("POST", "/_sim/synthetic"): _synthetic,
    ("POST", "/_sim/churn"): _churn,
    ("POST", "/_sim/job"): _job,
    ("GET", "/_sim/stats"): _stats,
    ("POST", "/_sim/reset_stats"): _reset_stats,
    ("POST", "/_sim/webhooks"): webhook_control,
    ("GET", "/_sim/webhooks"): webhook_control,
}
