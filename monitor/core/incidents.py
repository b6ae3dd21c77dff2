"""`monitor.provider_incident`: many jobs of one provider in trouble at once are one incident.

Evidence is one `Trouble` per job, stamped with the poll that saw it:
- `failed`: a per-job alert with a provider-side cause (a failure, or the provider's
  restart of a job, with cause `provider_error`);
- `queued`: a queue stall (its alert, and every poll while the stall stays open);
- `api`: a job whose retrieve or log the API failed to answer (5xx, timeouts) while the
  list answered (a poll that fails whole is `monitor.provider_down`'s).
User-caused trouble (billing, bad data, a W&B key, a person's cancel) is never evidence,
and never covered. The provider's health keeps the evidence of the last `window`
(`ProviderHealth.troubles`, the newest per job, at most `KEPT`).

Rules (a condition like every other: `conditions.step`):
- fire: at least `min_jobs` distinct jobs have trouble within `window`;
- hold: once firing it holds while any job has trouble within `window` (an open stall
  renews its job's each poll), so a burst that thins out is not told twice;
- resolve: a whole `window` without trouble; remind every `repeat` meanwhile.
What the incident holds back is `inhibition`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.core import conditions
from monitor.core.alerts import Alert, Cause, ConditionState, FactValue, Kind, Severity
from monitor.core.durations import human_duration
from monitor.core.memory import Condition, ProviderHealth, Trouble
from monitor.core.settings import Incidents

FAILED, QUEUED, API = "failed", "queued", "api"
# How each class is said, most serious first (the order of a message's counts).
PHRASES = {
    FAILED: "failed on the provider's side",
    QUEUED: "stuck in the queue",
    API: "could not be read (API errors)",
}
KEY = str(Kind.PROVIDER_INCIDENT)  # the condition's key in `ProviderHealth.conditions`
QUEUE_STALL = str(Kind.QUEUE_STALLED)  # an open stall's key in `JobState.conditions`
NAMED = 10  # jobs named in a message; the rest are counted
KEPT = 500  # troubles remembered per provider: an incident needs a handful
_PROVIDER_SIDE = frozenset({Kind.FAILED, Kind.CANCELLED, Kind.RESTARTED})


def trouble_of(alert: Alert) -> str | None:
    """The class of provider-side trouble a per-job alert tells of (so an incident may
    cover it), or None: a user-caused or ordinary alert, never covered."""
    if alert.job_id is None:
        return None
    if alert.kind in _PROVIDER_SIDE and alert.cause is Cause.PROVIDER_ERROR:
        return FAILED
    if alert.kind is Kind.QUEUE_STALLED:
        return QUEUED
    return None


def evidence(
    alerts: Iterable[Alert],
    stalled: Iterable[str],
    unreadable: Iterable[str],
    now: datetime,
) -> list[Trouble]:
    """This poll's troubles: its alerts that tell of one (a stall's end is none), the
    jobs whose queue stall is still open, and the jobs the API failed to answer for."""
    found = [
        Trouble(job_id=a.job_id, at=now, what=what)
        for a in alerts
        if (what := trouble_of(a)) is not None
        and a.job_id is not None
        and a.state is not ConditionState.RESOLVED
    ]
    found += [Trouble(job_id=job, at=now, what=QUEUED) for job in stalled]
    return found + [Trouble(job_id=job, at=now, what=API) for job in unreadable]


def step(
    health: ProviderHealth,
    provider: str,
    found: Sequence[Trouble],
    now: datetime,
    settings: Incidents,
    repeat: timedelta,
    *,
    status_page: str = "",
) -> tuple[ProviderHealth, list[Alert]]:
    """Remember this poll's troubles and advance the provider's incident by one poll;
    `status_page` (the provider's traits) is named in the message."""
    kept = _recent(health.troubles, found, now, settings) if settings.enabled else ()
    current = health.conditions.get(KEY)
    jobs = len({t.job_id for t in kept})
    holding = current is not None and jobs > 0
    active = settings.enabled and (jobs >= settings.min_jobs or holding)
    check = conditions.Check(
        kind=Kind.PROVIDER_INCIDENT, active=active, summary=_summary(kept, settings.window)
    )

    def make(chk: conditions.Check, cstate: ConditionState, suffix: str, cond: Condition) -> Alert:
        return _alert(provider, kept, chk, cstate, suffix, cond, now, status_page)

    mine = {KEY: current} if current is not None else {}
    opened, alerts = conditions.step(mine, [check], now, repeat, make)
    others = {k: v for k, v in health.conditions.items() if k != KEY}
    return replace(health, troubles=kept, conditions={**others, **opened}), alerts


def firing_since(health: ProviderHealth) -> datetime | None:
    """When the provider's incident began, or None: no incident now."""
    current = health.conditions.get(KEY)
    return current.since if current is not None else None


def firing_key(provider: str, since: datetime) -> str:
    """The dedup key of an incident's firing alert (where it was routed is what it covers)."""
    incident = Condition(since=since, notified_at=since)
    return conditions.episode_key(_prefix(provider), Kind.PROVIDER_INCIDENT, incident, "firing")


def _prefix(provider: str) -> str:
    return f"{provider}/-"


def _recent(
    before: Sequence[Trouble], found: Sequence[Trouble], now: datetime, settings: Incidents
) -> tuple[Trouble, ...]:
    """The newest trouble of each job within the window, oldest first, at most `KEPT`."""
    newest: dict[str, Trouble] = {}
    for trouble in [*before, *found]:
        if now - trouble.at < settings.window:
            newest[trouble.job_id] = trouble  # later entries are newer
    ordered = sorted(newest.values(), key=lambda t: (t.at, t.job_id))
    return tuple(ordered[-KEPT:])


def _jobs(n: int) -> str:
    return f"{n} job" if n == 1 else f"{n} jobs"


def _counts(kept: Sequence[Trouble]) -> dict[str, int]:
    counts = {what: sum(1 for t in kept if t.what == what) for what in PHRASES}
    return {what: n for what, n in counts.items() if n}


def _named(kept: Sequence[Trouble]) -> str:
    jobs = [t.job_id for t in kept]
    shown = ", ".join(jobs[:NAMED])
    return shown + (f" and {len(jobs) - NAMED} more" if len(jobs) > NAMED else "")


def _summary(kept: Sequence[Trouble], window: timedelta) -> str:
    if not kept:
        return ""
    counts = "; ".join(f"{n} {PHRASES[what]}" for what, n in _counts(kept).items())
    first, last = (t.at.astimezone(UTC) for t in (kept[0], kept[-1]))
    return (
        f"{_jobs(len(kept))} hit trouble on the provider's side within "
        f"{human_duration(window.total_seconds())} (seen {first:%Y-%m-%d %H:%M}–{last:%H:%M} "
        f"UTC): {counts}. Jobs: {_named(kept)}."
    )


def _alert(
    provider: str,
    kept: Sequence[Trouble],
    check: conditions.Check,
    cstate: ConditionState,
    suffix: str,
    cond: Condition,
    now: datetime,
    status_page: str,
) -> Alert:
    severity = Severity.FAILURE if any(t.what == FAILED for t in kept) else Severity.WARNING
    said = conditions.say(
        check, cstate, suffix, cond, now,
        prefix=_prefix(provider), firing=severity, cleared="ended",
    )  # fmt: skip
    counts = _counts(kept)
    facts: dict[str, FactValue] = {
        "since": cond.since.isoformat(),
        "jobs": len(kept) or None,  # none left when it ends
        "cause_class": ", ".join(counts) or None,
        "window_start": kept[0].at.isoformat() if kept else None,
        "window_end": kept[-1].at.isoformat() if kept else None,
        "status_page": status_page or None,
    }
    return Alert(
        kind=Kind.PROVIDER_INCIDENT,
        severity=said.severity,
        provider=provider,
        job_id=None,
        at=now,
        summary=said.summary,
        dedup_key=said.dedup_key,
        hint=said.hint,
        state=said.state,
        facts={k: v for k, v in facts.items() if v is not None},
    )
