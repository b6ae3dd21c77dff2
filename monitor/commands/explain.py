"""`ftmon explain JOB`: the story of one job (or its restart chain), for a person.

A tracked job is told from the state file alone, opened read-only like `ftmon status`
(safe beside a running daemon): the chain's states and every alert about it with its
deliveries and attempts. A job ftmon never tracked (or a state file not there yet) is
fetched once from each configured provider in turn until one knows it, folded through the
same `diff` a poll uses, and told with the alerts ftmon *would* raise (nothing is stored
or sent). The story itself is the pure `core.explain`; the page passes the redactor.

Exit status: 0 when the job was explained; 1 when no provider knows it (stderr says what
each answered).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime

import anyio

from monitor.core import diff, explain
from monitor.core.errors import NotAStateFile, ProviderError, ProviderNotFound
from monitor.core.model import JobEvent, JobSnapshot
from monitor.core.redact import REDACTOR
from monitor.core.settings import Config, ProviderConfig
from monitor.providers import make_client
from monitor.storage.sqlite import SqliteStore

EX_NOT_FOUND = 1


def main(config: Config, now: datetime, job_id: str, *, as_json: bool) -> int:
    """Print the story of `job_id`; 1 (and why on stderr) when nobody knows the job."""
    story = tracked_story(config, job_id)
    if story is None:
        story, errors = anyio.run(fetched_story, config, job_id, now)
        if story is None:
            print(REDACTOR(f"ftmon: job {job_id} is not tracked and no provider knows it:"),
                  file=sys.stderr)  # fmt: skip
            for line in errors or ["no provider is configured"]:
                print(REDACTOR(f"  {line}"), file=sys.stderr)
            return EX_NOT_FOUND
    text = (
        json.dumps(explain.to_dict(story, now), indent=2) if as_json else explain.render(story, now)
    )
    print(REDACTOR(text))
    return 0


def tracked_story(config: Config, job_id: str) -> explain.Story | None:
    """The story from the state file, or None when the job is not in it (or no file is)."""
    try:
        store = SqliteStore(config.monitor.state, read_only=True)
    except NotAStateFile:
        if config.monitor.state.exists():
            raise  # another program's file: refused like every command refuses it
        return None
    try:
        states = [s for s in store.all_jobs() if s.job_id == job_id]
        if not states:
            return None
        provider = states[0].provider
        mine = {s.job_id: s for s in store.all_jobs() if s.provider == provider}
        jobs = explain.chain(mine, job_id)
        records = store.alert_history(provider, [s.job_id for s in jobs])
        disabled = {
            d.channel: f"since {d.at.isoformat()}: {d.reason}"
            for d in store.outbox.disabled_channels().values()
        }
    finally:
        store.close()
    return explain.Story(jobs=jobs, alerts=tuple(records), disabled=disabled)


async def fetched_story(
    config: Config, job_id: str, now: datetime
) -> tuple[explain.Story | None, list[str]]:
    """Ask each provider for the job once; the first that knows it tells the story."""
    errors: list[str] = []
    for provider in config.providers:
        try:
            snapshot, events = await _fetch(provider, job_id)
        except ProviderNotFound:
            errors.append(f"{provider.name}: not found")
            continue
        except ProviderError as exc:
            errors.append(str(exc))
            continue
        return _story_of(config, snapshot, events, now), errors
    return None, errors


async def _fetch(provider: ProviderConfig, job_id: str) -> tuple[JobSnapshot, list[JobEvent]]:
    client = make_client(provider)
    try:
        snapshot = await client.retrieve(job_id)
        events = list(snapshot.events) or await client.events(job_id, after_key=None)
    finally:
        await client.aclose()
    return snapshot, events


def _story_of(
    config: Config, snapshot: JobSnapshot, events: list[JobEvent], now: datetime
) -> explain.Story:
    state, alerts = diff.diff(None, snapshot, events, now, config.thresholds)
    state = replace(state, status_path=explain.fetched_path(snapshot, now))
    records = tuple(explain.AlertRecord(alert=a, raised_at=a.at, routed=False) for a in alerts)
    return explain.Story(jobs=(state,), alerts=records, tracked=False)
