"""The REPLICAS part of `ftmon status` on a shared (PostgreSQL) state: each replica, the
leader of each provider, its epoch and how long its lease still runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.core.durations import human_duration
from monitor.storage.base import Lease, Replica


def replica_rows(leases: list[Lease], replicas: list[Replica], now: datetime) -> dict[str, Any]:
    """Pure: leases and replicas as status shows them (`now` is the database's clock)."""
    leading: dict[str, list[str]] = {}
    for lease in leases:
        if lease.expires_at > now:
            leading.setdefault(lease.holder, []).append(lease.provider)
    return {
        "replicas": [
            {
                "replica": r.holder,
                "started_at": r.started_at.isoformat(),
                "seen": human_duration((now - r.seen_at).total_seconds()) + " ago",
                "leads": sorted(leading.get(r.holder, [])),
                "note": r.note,
            }
            for r in replicas
        ],
        "leaders": [
            {
                "provider": lease.provider,
                "leader": lease.holder if lease.expires_at > now else None,
                "epoch": lease.epoch,
                "lease_left": human_duration((lease.expires_at - now).total_seconds())
                if lease.expires_at > now
                else "lapsed",
            }
            for lease in leases
        ],
    }


def render_replicas(rows: dict[str, Any]) -> list[str]:
    lines = ["", f"REPLICAS ({len(rows['replicas'])})"]
    for r in rows["replicas"]:
        leads = ", ".join(r["leads"]) or "no provider"
        lines.append(f"  {r['replica']}: seen {r['seen']}, leads {leads}; {r['note']}")
    lines += ["", "LEADERS"]
    for lease in rows["leaders"]:
        who = lease["leader"] or "nobody (lease lapsed)"
        lines.append(
            f"  {lease['provider']}: {who}, epoch {lease['epoch']}, lease {lease['lease_left']}"
        )
    if not rows["leaders"]:
        lines.append("  (no provider led yet)")
    return lines
