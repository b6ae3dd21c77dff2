"""`ftmon test-notify --job ID` / `--metadata KEY=VALUE`: where a job's alerts would go.

Nothing is sent. For a job ftmon tracks (`--job`, read from the state file) or a sample
job carrying the given metadata, every job alert kind is built as the diff engine would
raise it about that job, and routed by the real routing code (`routes.route`,
`routes.delivery_targets`, the route's job matchers): one line per kind with the channels
it reaches, one line per route saying what it takes of the job or why it takes nothing,
and whether the provider's watch filter follows the job at all. Exit status 0 when some
kind reaches a channel, else 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TextIO

from monitor.core import routes, routing
from monitor.core.alerts import Alert, Kind
from monitor.core.model import ProviderKind
from monitor.core.routing import JobFields
from monitor.core.samples import sample_alert
from monitor.core.settings import Config, ProviderConfig, RouteConfig
from monitor.storage.sqlite import SqliteStore

JOB_KINDS = tuple(k for k in Kind if str(k).startswith("job."))


def preview(
    config: Config,
    store_path: Path,
    now: datetime,
    *,
    job: str | None,
    metadata: Sequence[str],
    out: TextIO = sys.stdout,
) -> int:
    found = _job(config, store_path, now, job, metadata)
    if isinstance(found, str):
        print(f"ftmon: test-notify: {found}", file=sys.stderr)
        return 1
    provider, fields = found
    alerts = [
        _about(sample_alert(kind, now, "preview", provider.name), fields) for kind in JOB_KINDS
    ]
    known = [c.name for c in config.channels]
    followed = _followed(provider, fields)
    lines = [f"job {fields.job_id} on {provider.name}: {_shown(fields)}", _watch(provider, fields)]
    lines += [_route_line(i, r, alerts) for i, r in enumerate(config.routes)]
    lines += [] if followed else ["if its provider followed it, its alerts would go:"]
    reached = False
    for alert in alerts:
        targets = routes.delivery_targets(alert, config.routes, known)
        reached = reached or (followed and bool(targets))
        shown = ", ".join(targets) if targets else "no route: logged and counted, never sent"
        lines.append(f"{alert.kind} ({alert.severity}) -> {shown}")
    print("\n".join(lines), file=out)
    return 0 if reached else 1


def _job(
    config: Config, store_path: Path, now: datetime, job: str | None, metadata: Sequence[str]
) -> tuple[ProviderConfig, JobFields] | str:
    """The job to preview: a tracked one by id, else a sample with `metadata`."""
    pairs = [m.partition("=") for m in metadata]
    if any(not key or not sep for key, sep, _ in pairs):
        return "--metadata expects KEY=VALUE, like --metadata team=support"
    if job is None:
        provider = next(
            (p for p in config.providers if p.kind is ProviderKind.OPENAI), config.providers[0]
        )
        sample = sample_alert(Kind.SUCCEEDED, now, "preview")
        base = routing.fields_of_alert(replace(sample, provider_kind=str(provider.kind)))
        assert base is not None
        return provider, replace(base, metadata={k: v for k, _, v in pairs})
    store = SqliteStore(store_path)
    try:
        state = next((s for s in store.all_jobs() if s.job_id == job), None)
    finally:
        store.close()
    if state is None:
        return (
            f"job {job} is not in {store_path} (ftmon has not seen it, or its provider's watch "
            "filter does not take it); try --metadata KEY=VALUE for a sample job"
        )
    owner = next((p for p in config.providers if p.name == state.provider), None)
    if owner is None:
        return f"job {job} belongs to provider {state.provider}, which the config no longer has"
    fields = routing.fields_of_state(state)
    return owner, replace(fields, metadata={**fields.metadata, **{k: v for k, _, v in pairs}})


def _about(alert: Alert, fields: JobFields) -> Alert:
    """A sample alert of one kind, about the previewed job."""
    return replace(
        alert, job_id=fields.job_id, original_job=fields.original_job, **fields.as_record()
    )


def _shown(fields: JobFields) -> str:
    shown = [
        f"{key}={value}"
        for key in routing.SCALAR_KEYS
        if key != "job"
        for value in fields.values(key)[:1]
    ]
    shown += [f"metadata.{k}={v}" for k, v in sorted(fields.metadata.items())]
    if fields.original_job:
        shown.append(f"restart of {fields.original_job}")
    return " ".join(shown) or "(no job fields)"


def _followed(provider: ProviderConfig, fields: JobFields) -> bool:
    return fields.job_id in provider.jobs or routing.matches(provider.watch, fields)


def _watch(provider: ProviderConfig, fields: JobFields) -> str:
    head = f"watch filter of {provider.name}"
    if _followed(provider, fields):
        return f"{head}: follows this job"
    why = routing.mismatch(provider.watch, fields)
    return f"{head}: does NOT follow this job ({why}); none of its alerts is raised"


def _route_line(index: int, r: RouteConfig, alerts: Sequence[Alert]) -> str:
    taken = [str(a.kind) for a in alerts if routes.route_matches(a, r).go]
    head = f"route {index} ({routes.route_words(r)})"
    if taken:
        return f"{head}: takes {', '.join(taken)}"
    why = routing.mismatch(r.match, routing.fields_of_alert(alerts[0]))
    reasons = {str(routes.route_matches(a, r).reason) for a in alerts}
    return f"{head}: takes nothing of this job ({why or ', '.join(sorted(reasons))})"
