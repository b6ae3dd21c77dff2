"""`ftmon explain`'s story of one job or restart chain, built from what ftmon remembers.

A person asking "what happened to this job?" otherwise reads two dashboards: the
provider's (status, log, price) and the channels' (which messages went out, and which
did not). The story puts both in one place: the chain of jobs in order, each one's status
path with times and last log lines, every alert ftmon raised about them with where it was
delivered and when (or why not), then the cause, the next step, the price and the link.

Pure: the shell reads the records (`storage.history`) and, for a job ftmon never tracked,
folds one fetch through `diff` and passes the alerts that fetch *would* raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.core import ledger
from monitor.core.alerts import CAUSE_PHRASES, HINTS, Alert, Cause, Kind
from monitor.core.durations import human_duration
from monitor.core.ledger import NOT_PRICED, usd
from monitor.core.memory import JobState
from monitor.core.model import JobSnapshot, Status
from monitor.core.text import one_line


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One try at sending one alert to one channel (the `attempts` table)."""

    at: datetime
    outcome: str
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRecord:
    """Where one alert went: one channel's row of the `deliveries` table and its tries."""

    channel: str
    status: str
    sent_at: datetime | None = None
    last_error: str | None = None
    attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRecord:
    """An alert as the outbox keeps it: raised at `raised_at`; `routed` once a dispatcher
    matched it against the routes (no deliveries then means no route took it)."""

    alert: Alert
    raised_at: datetime
    routed: bool
    deliveries: tuple[DeliveryRecord, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Story:
    """One job (or restart chain, oldest first) and what ftmon said about it.

    `tracked` is False for a job fetched once for the asking: `alerts` are then what ftmon
    would raise about it, never enqueued, so they have no deliveries.
    """

    jobs: tuple[JobState, ...]
    alerts: tuple[AlertRecord, ...]
    tracked: bool = True
    disabled: Mapping[str, str] = field(default_factory=dict)  # channel -> why, since when


def chain(states: Mapping[str, JobState], job_id: str) -> tuple[JobState, ...]:
    """The restart chain `job_id` belongs to, oldest first (one job when it has none)."""
    first = states[job_id]
    seen = {first.job_id}
    while (back := first.restart.of) in states and back not in seen and back is not None:
        first = states[back]
        seen.add(back)
    out = [first]
    while (ahead := out[-1].restart.successor) in states and ahead is not None:
        if ahead in {s.job_id for s in out}:
            break
        out.append(states[ahead])
    return tuple(out)


def fetched_path(snapshot: JobSnapshot, now: datetime) -> tuple[tuple[str, datetime], ...]:
    """The status path of a job seen once: the times the provider states, in order."""
    path = [("created", snapshot.created_at)]
    if snapshot.started_at is not None:
        path.append(("running", snapshot.started_at))
    end = snapshot.finished_at or snapshot.updated_at or now
    if not path or snapshot.raw_status != path[-1][0]:
        path.append((snapshot.raw_status, max(end, path[-1][1])))
    return tuple(path)


_ENDS = (Kind.FAILED, Kind.RESTARTED, Kind.CANCELLED)


def cause_of(story: Story) -> Cause | None:
    """The cause of the chain's latest failure, restart or cancellation, as its alert said
    it; for a chain where none happened, None."""
    for record in reversed(story.alerts):
        if record.alert.kind in _ENDS and record.alert.cause:
            return record.alert.cause
    last = story.jobs[-1]
    if last.status in (Status.FAILED, Status.CANCELLED):
        return Cause.UNKNOWN
    return None


def next_step(story: Story) -> str:
    """What a person should do now: the cause's hint while the chain stands failed or
    cancelled, else the hint of its last job's latest alert, else a plain word about where
    the chain is (a restarted chain running again asks nothing)."""
    last = story.jobs[-1]
    cause = cause_of(story)
    if last.status is Status.SUCCEEDED:
        output = f" ({last.output_name})" if last.output_name else ""
        return f"Nothing: the job succeeded; the output model is ready to use{output}."
    if cause is not None and last.status in (Status.FAILED, Status.CANCELLED):
        return HINTS[cause]
    for record in reversed(story.alerts):
        if record.alert.job_id == last.job_id and record.alert.hint:
            return record.alert.hint
    return "Nothing yet: ftmon is watching the job and will say when something changes."


def cost_text(story: Story) -> str:
    """The chain's net as the provider stated it, counted as the cost ledger counts it
    (`ledger.amounts`: refunds taken off once); never guessed."""
    money = [ledger.amounts(ledger.entry(s)) for s in story.jobs]
    priced = [m for m in money if m.priced]
    if not priced:
        return NOT_PRICED
    total = usd(sum(m.net for m in priced))
    refunded = sum(m.refunded for m in priced)
    if refunded:
        total += f" (charged {usd(sum(m.charged for m in priced))}, refunded {usd(refunded)})"
    missing = len(money) - len(priced)
    return total if not missing else f"{total} ({missing} job(s) of the chain: {NOT_PRICED})"


def to_dict(story: Story, now: datetime) -> dict[str, Any]:
    """The story as plain data (`explain --json`)."""
    cause = cause_of(story)
    last = story.jobs[-1]
    return {
        "tracked": story.tracked,
        "provider": last.provider,
        "job": last.job_id,
        "chain": [_job_dict(s, _about(story, s.job_id), now) for s in story.jobs],
        "alerts": [_alert_dict(r) for r in story.alerts],
        "disabled_channels": dict(story.disabled),
        "cause": str(cause) if cause else None,
        "cause_text": CAUSE_PHRASES[cause] if cause else None,
        "next_step": next_step(story),
        "cost": cost_text(story),
        "price_usd": [s.price_usd for s in story.jobs],
        "link": last.link,
    }


def _about(story: Story, job_id: str) -> list[Alert]:
    return [r.alert for r in story.alerts if r.alert.job_id == job_id]


def _path(state: JobState, alerts: Sequence[Alert]) -> list[tuple[str, datetime]]:
    """The status path: a finished job's state keeps only its last status (`plan.tombstone`),
    while each alert carries the path as it stood when raised; together, in time order."""
    steps = {step for a in alerts for step in a.status_path} | set(state.status_path)
    return sorted(steps, key=lambda step: (step[1], step[0]))


def _events(state: JobState, alerts: Sequence[Alert]) -> list[str]:
    """The log lines that mattered: those the alerts quoted, then the state's last ones."""
    lines = [line for a in alerts for line in a.recent_events] + list(state.log.recent)
    return list(dict.fromkeys(lines))


def _job_dict(state: JobState, alerts: Sequence[Alert], now: datetime) -> dict[str, Any]:
    return {
        "job": state.job_id,
        "status": str(state.status),
        "raw_status": state.raw_status,
        "model": state.model,
        "output_name": state.output_name,
        "created_at": state.created_at.isoformat(),
        "age": human_duration((now - state.created_at).total_seconds()),
        "status_path": [[s, at.isoformat()] for s, at in _path(state, alerts)],
        "events": _events(state, alerts),
        "error": state.error_detail,
        "restart_of": state.restart.of,
        "restarted_as": state.restart.successor,
        "open_conditions": sorted(state.conditions),
        "price_usd": state.price_usd,
        "link": state.link,
    }


def _alert_dict(record: AlertRecord) -> dict[str, Any]:
    alert = record.alert
    return {
        "kind": str(alert.kind),
        "severity": str(alert.severity),
        "state": str(alert.state) if alert.state else None,
        "job": alert.job_id,
        "summary": alert.summary,
        "raised_at": record.raised_at.isoformat(),
        "routed": record.routed,
        "deliveries": [
            {
                "channel": d.channel,
                "status": d.status,
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
                "last_error": d.last_error,
                "attempts": [
                    {"at": a.at.isoformat(), "outcome": a.outcome, "error": a.error}
                    for a in d.attempts
                ],
            }
            for d in record.deliveries
        ],
    }


def render(story: Story, now: datetime) -> str:
    """The story for a person, one fact a line, what a provider wrote kept to one line."""
    data = to_dict(story, now)
    head = f"{data['provider']} {data['job']}"
    if len(story.jobs) > 1:
        head += (
            f" (restart chain of {len(story.jobs)}: "
            + " -> ".join(s.job_id for s in story.jobs)
            + ")"
        )
    lines = [head if story.tracked else f"{head} (not tracked by ftmon: fetched now)"]
    for job in data["chain"]:
        lines += _job_lines(job)
    lines += ["", "ALERTS" if story.tracked else "ALERTS ftmon would raise (none sent)"]
    lines += [line for r in story.alerts for line in _alert_lines(r, story)] or ["  (none)"]
    lines += [
        "",
        f"Cause: {data['cause_text'] or 'none (the job has not failed)'}",
        f"Next step: {data['next_step']}",
        f"Cost: {data['cost']}",
        f"Link: {data['link']}",
    ]
    return "\n".join(one_line(line) for line in lines)


def _job_lines(job: Mapping[str, Any]) -> list[str]:
    status = job["status"]
    if job["raw_status"] != status:
        status += f" ({job['raw_status']})"
    lines = ["", f"JOB {job['job']}: {status}, model {job['model'] or '-'}"]
    lines.append(f"  created {job['created_at']} ({job['age']} ago)")
    if job["restart_of"]:
        lines.append(f"  restart of {job['restart_of']}")
    if job["restarted_as"]:
        lines.append(f"  restarted as {job['restarted_as']}")
    path = " -> ".join(f"{s} {at}" for s, at in job["status_path"])
    lines.append(f"  path: {path or '-'}")
    if job["error"]:
        lines.append(f"  error: {job['error']}")
    if job["open_conditions"]:
        lines.append(f"  open conditions: {', '.join(job['open_conditions'])}")
    lines += [f"  event: {e}" for e in job["events"]]
    return lines


def _alert_lines(record: AlertRecord, story: Story) -> Sequence[str]:
    alert = record.alert
    state = f" [{alert.state}]" if alert.state else ""
    about = f"{alert.kind}{state} {alert.severity} ({alert.job_id or '-'}): {alert.summary}"
    lines = [f"  {record.raised_at.isoformat()} {about}"]
    if not story.tracked:
        return lines
    if not record.deliveries:
        why = "matched no route" if record.routed else "not yet routed"
        return [*lines, f"    delivered nowhere: {why}"]
    for d in record.deliveries:
        when = f" at {d.sent_at.isoformat()}" if d.sent_at else ""
        tries = f", {len(d.attempts)} attempt(s)" if d.attempts else ""
        error = f", last error: {d.last_error}" if d.last_error else ""
        if d.status == "inhibited":  # the note says which incident covers it
            error = f" ({d.last_error})" if d.last_error else ""
        if d.status in ("pending", "held") and d.channel in story.disabled:
            error += f" (channel disabled {story.disabled[d.channel]})"
        lines.append(f"    -> {d.channel}: {d.status}{when}{tries}{error}")
    return lines
