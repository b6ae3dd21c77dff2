"""`ftmon status`: what ftmon is tracking and what it still has to deliver.

It only reads the state, so it is safe beside a running daemon: it never creates, migrates
or writes a state file. A path with nothing there is a configuration error naming it
(exit 78); a file that is not ftmon's is refused as every command refuses it. On a shared
PostgreSQL state it also lists the replicas, the leader of each provider and its epoch.
Rows are built by a pure function (`job_rows`) and printed as a table or JSON; channel
names (never URLs) name the outbox rows. What a provider wrote (model names, errors) is
shown one line per row with no control characters (`text.one_line`), and the whole page
passes the redactor, so a key a provider echoed into an error is masked here too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from monitor.commands.replicas import render_replicas, replica_rows
from monitor.core import incidents, routing
from monitor.core.durations import human_duration
from monitor.core.errors import ConfigError, NotAStateFile
from monitor.core.memory import JobState, ProviderHealth
from monitor.core.redact import REDACTOR
from monitor.core.settings import Config
from monitor.core.text import one_line
from monitor.storage.base import OutboxSummary, Store
from monitor.storage.factory import open_store
from monitor.storage.sqlite import SqliteStore

BAR_WIDTH = 10


def report(config: Config, now: datetime, *, as_json: bool) -> str:
    """The whole status page, read from the state the config names. Jobs a provider's
    watch filter no longer takes are left out: ftmon does not follow them."""
    watch = {p.name: p for p in config.providers}
    store = open_read_only(config)
    try:
        states = [
            s
            for s in store.all_jobs()
            if s.provider not in watch
            or routing.watches_state(watch[s.provider].watch, watch[s.provider].jobs, s)
        ]
        health = store.all_health()
        jobs = job_rows(states, now, covered(health))
        providers = provider_rows(health)
        box = outbox_rows(store.outbox.pending_summary())
        shared = replica_rows(store.leases(), store.replicas(), now) if store.shared else None
    finally:
        store.close()
    if as_json:
        return REDACTOR(render_json(jobs, providers, box, shared))
    table = render_table(jobs, providers, box)
    return REDACTOR(table if shared is None else "\n".join([table, *render_replicas(shared)]))


def open_read_only(config: Config) -> Store:
    """The state the config names, only to read (`status`, `cost`): never created or
    migrated, a SQLite file nor a PostgreSQL schema; a path with nothing there is a
    configuration error naming it."""
    if config.monitor.database is not None:
        return open_store(config.monitor, read_only=True)
    try:
        return SqliteStore(config.monitor.state, read_only=True)
    except NotAStateFile as exc:
        if config.monitor.state.exists():
            raise  # another program's file: refused like every command refuses it
        raise ConfigError(str(config.file), "monitor.state", str(exc)) from None


def job_rows(
    states: Sequence[JobState],
    now: datetime,
    incident: Mapping[tuple[str, str], datetime] | None = None,
) -> list[dict[str, Any]]:
    """One row per tracked job: unfinished first, then the most recently changed; a job a
    provider incident covers says since when (its own messages are held back)."""
    ordered = sorted(states, key=lambda s: (s.status.terminal, -_changed(s).timestamp()))
    marks = incident or {}
    return [_row(s, now, marks.get((s.provider, s.job_id))) for s in ordered]


def covered(health: Mapping[str, ProviderHealth]) -> dict[tuple[str, str], datetime]:
    """(provider, job) -> since when a firing provider incident covers the job."""
    out = {}
    for name, h in health.items():
        since = incidents.firing_since(h)
        if since is not None:
            out.update({(name, t.job_id): since for t in h.troubles})
    return out


def _changed(state: JobState) -> datetime:
    return state.status_path[-1][1] if state.status_path else state.created_at


def _row(state: JobState, now: datetime, incident: datetime | None = None) -> dict[str, Any]:
    since = _changed(state)
    return {
        "provider": state.provider,
        "job": state.job_id,
        "model": state.model or "-",
        "status": f"{state.status} ({state.raw_status})"
        if str(state.status) != state.raw_status
        else str(state.status),
        "since": since.isoformat(),
        "age": human_duration((now - since).total_seconds()),
        "progress": _progress(state),
        "eta": _eta(state, now),
        "restart": _restart(state),
        "conditions": sorted(state.conditions),
        "last_alert": (state.last_alert or "-") + (" [incident]" if incident else ""),
        "incident_since": incident.isoformat() if incident else None,
    }


def _progress(state: JobState) -> str:
    done, total = state.progress.step, state.progress.total_steps
    if not (done and total):
        done, total = state.progress.epochs, state.progress.n_epochs
    if not total or done is None:
        return "-"
    share = max(0.0, min(1.0, done / total))
    filled = round(share * BAR_WIDTH)
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:4.0%} {done}/{total}"


def _eta(state: JobState, now: datetime) -> str:
    if state.progress.eta is None or state.status.terminal:
        return "-"
    delta = (state.progress.eta - now).total_seconds()
    return f"in {human_duration(delta)}" if delta >= 0 else f"{human_duration(-delta)} late"


def _restart(state: JobState) -> str:
    if state.restart.successor:
        return f"-> {state.restart.successor}"
    if state.restart.of:
        return f"<- {state.restart.of}"
    return "-"


def outbox_rows(summary: OutboxSummary) -> dict[str, Any]:
    return {
        "totals": summary.totals,
        "by_channel": summary.by_channel,
        "unrouted": summary.unrouted,
        "unmatched": summary.unmatched,
        "oldest_pending_at": summary.oldest_pending_at.isoformat()
        if summary.oldest_pending_at
        else None,
        "last_errors": summary.last_errors,
        "disabled_channels": [
            {"channel": d.channel, "since": d.at.isoformat(), "reason": d.reason}
            for d in summary.disabled
        ],
    }


def provider_rows(health: dict[str, ProviderHealth]) -> list[dict[str, Any]]:
    return [
        {
            "provider": name,
            "last_success_at": h.last_success_at.isoformat() if h.last_success_at else None,
            "failing_since": h.failing_since.isoformat() if h.failing_since else None,
            "last_error": h.last_error,
            "conditions": sorted(h.conditions),
            "incident": _incident(h),
        }
        for name, h in sorted(health.items())
    ]


def _incident(health: ProviderHealth) -> dict[str, Any] | None:
    since = incidents.firing_since(health)
    if since is None:
        return None
    return {"since": since.isoformat(), "jobs": [t.job_id for t in health.troubles]}


def render_json(
    jobs: list[dict[str, Any]],
    providers: list[dict[str, Any]],
    outbox: dict[str, Any],
    shared: dict[str, Any] | None = None,
) -> str:
    page = {"providers": providers, "jobs": jobs, "outbox": outbox, **(shared or {})}
    return json.dumps(page, indent=2)


JOB_COLUMNS = (
    "provider",
    "job",
    "model",
    "status",
    "age",
    "progress",
    "eta",
    "restart",
    "last_alert",
)


def render_table(
    jobs: list[dict[str, Any]], providers: list[dict[str, Any]], outbox: dict[str, Any]
) -> str:
    lines = ["PROVIDERS"]
    for p in providers:
        state = (
            f"failing since {p['failing_since']}: {p['last_error']}"
            if p["failing_since"]
            else f"ok, last poll {p['last_success_at']}"
        )
        lines.append(f"  {p['provider']}: {state}")
        if p["incident"]:
            covered = len(p["incident"]["jobs"])
            lines.append(
                f"    INCIDENT since {p['incident']['since']}: {covered} "
                f"{'job' if covered == 1 else 'jobs'} in trouble on the provider's side "
                "(marked [incident]); their messages are held back while it lasts"
            )
    lines += ["", f"JOBS ({len(jobs)})", *_table(jobs, JOB_COLUMNS)]
    lines += ["", "OUTBOX"]
    totals = ", ".join(f"{k} {v}" for k, v in sorted(outbox["totals"].items())) or "empty"
    lines.append(
        f"  deliveries: {totals}; not yet routed {outbox['unrouted']}; "
        f"matched no route {outbox['unmatched']}"
    )
    for channel, counts in sorted(outbox["by_channel"].items()):
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        error = outbox["last_errors"].get(channel)
        lines.append(f"  {channel}: {detail}" + (f" (last error: {error})" if error else ""))
    for d in outbox["disabled_channels"]:
        lines.append(f"  DISABLED {d['channel']} since {d['since']}: {d['reason']}")
    return "\n".join(one_line(line) for line in lines)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    if not rows:
        return ["  (none yet)"]
    cells = [[one_line(str(r[c])) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    header = "  " + "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    body = ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return [header, *body]
