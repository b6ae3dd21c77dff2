"""Conditions: facts that hold for a while (a stall, an overrun, an outage).

A condition fires once when it starts, reminds every `repeat` while it holds, and sends
one resolved alert when it clears. Its dedup keys carry the moment it started, so a new
episode of the same condition is a new fact while a re-poll of the same episode is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.core.alerts import KIND_HINTS, Alert, ConditionState, FactValue, Kind, Severity
from monitor.core.durations import human_duration
from monitor.core.memory import Condition


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One condition's verdict at this poll."""

    kind: Kind
    active: bool
    summary: str = ""
    facts: Mapping[str, FactValue] = field(default_factory=dict)


# Builds the alert for a check: (check, state, dedup suffix, condition) -> Alert.
AlertMaker = Callable[[Check, ConditionState, str, Condition], Alert]


def step(
    open_conditions: Mapping[str, Condition],
    checks: Sequence[Check],
    now: datetime,
    repeat: timedelta,
    make_alert: AlertMaker,
) -> tuple[dict[str, Condition], list[Alert]]:
    """Advance every condition by one poll; conditions not checked are resolved."""
    opened = dict(open_conditions)
    alerts: list[Alert] = []
    checked = {str(c.kind) for c in checks}
    for check in checks:
        key = str(check.kind)
        current = opened.get(key)
        change = _change(check.active, current, now, repeat)
        if change is ConditionState.FIRING:
            current = Condition(since=now, notified_at=now, detail=check.summary)
            opened[key] = current
            alerts.append(make_alert(check, ConditionState.FIRING, "firing", current))
        elif change is ConditionState.REMINDER and current is not None:
            current = replace(current, notified_at=now, reminders=current.reminders + 1)
            opened[key] = current
            suffix = f"reminder/{current.reminders}"
            alerts.append(make_alert(check, ConditionState.REMINDER, suffix, current))
        elif change is ConditionState.RESOLVED and current is not None:
            del opened[key]
            alerts.append(make_alert(check, ConditionState.RESOLVED, "resolved", current))
    for key in [k for k in opened if k not in checked]:
        current = opened.pop(key)
        check = Check(kind=Kind(key), active=False)
        alerts.append(make_alert(check, ConditionState.RESOLVED, "resolved", current))
    return opened, alerts


def due(
    open_conditions: Mapping[str, Condition],
    verdicts: Mapping[Kind, bool],
    now: datetime,
    repeat: timedelta,
) -> bool:
    """Whether `step`, given checks with these verdicts (kind: active), would fire, remind
    or resolve anything at `now`."""
    for kind, active in verdicts.items():
        if _change(active, open_conditions.get(str(kind)), now, repeat) is not None:
            return True
    return any(key not in verdicts for key in open_conditions)


def _change(
    active: bool, current: Condition | None, now: datetime, repeat: timedelta
) -> ConditionState | None:
    """What one check does to its condition at `now`: fire, remind, resolve or nothing."""
    if active and current is None:
        return ConditionState.FIRING
    if active and current is not None and now - current.notified_at >= repeat:
        return ConditionState.REMINDER
    if not active and current is not None:
        return ConditionState.RESOLVED
    return None


def episode_key(prefix: str, kind: Kind, condition: Condition, suffix: str) -> str:
    return f"{prefix}/{kind}/{condition.since.isoformat()}/{suffix}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Said:
    """What a condition alert says, the same way for a job's conditions and a provider's."""

    summary: str
    severity: Severity
    hint: str | None
    state: ConditionState
    dedup_key: str
    resolved: bool


def say(
    check: Check,
    cstate: ConditionState,
    suffix: str,
    condition: Condition,
    now: datetime,
    *,
    prefix: str,
    firing: Severity,
    cleared: str,
) -> Said:
    """The words of a firing, reminder or resolved alert: a resolved one says `cleared`
    ("left the queue", "recovered") and how long the condition lasted, at info; the others
    say the check's summary at `firing` severity, with the kind's next step."""
    resolved = cstate is ConditionState.RESOLVED
    lasted = human_duration((now - condition.since).total_seconds())
    return Said(
        summary=f"{cleared} after {lasted}" if resolved else check.summary or condition.detail,
        severity=Severity.INFO if resolved else firing,
        hint=None if resolved else KIND_HINTS[check.kind],
        state=cstate,
        dedup_key=episode_key(prefix, check.kind, condition, suffix),
        resolved=resolved,
    )
