"""The message contract (DESIGN section 4): alerts in, one Message within a length budget out.

A message says, in this order: the summary, the cause and the next step, what is known
about the job (model, output, restart chain, refund, condition state, other facts, the
dashboard link), the status path with times, the last provider events, and as its LAST
lines one label line per alert. Each label line is a line of its own in every format:
a plain line in text, a code span on its own line in markdown (Slack keeps it verbatim),
its own <div> in HTML (so the text part of an email keeps it a line too).

When the body is over budget, parts are dropped in a fixed order: the event list first
(oldest events first), then the status path, then the other details (least important
first), then the summary's free text is cut. The cause, the hint and the label lines are
never dropped; if they alone exceed the budget the message is returned with `fits=False`.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise
from typing import Literal

from monitor.core.alerts import CAUSE_PHRASES, Alert, Cause, ConditionState, Kind, Severity
from monitor.core.durations import human_duration
from monitor.core.text import one_line

BodyFormat = Literal["markdown", "html", "text"]

MAX_TITLE = 250  # used when the service has no title of its own (title_limit <= 0)
MERGED_TITLE_OVERHEAD = 32  # what apprise adds when it moves a title into the body

# fmt: off
_WHAT: dict[Kind, str] = {
    Kind.STARTED: "started", Kind.SUCCEEDED: "succeeded", Kind.FAILED: "failed",
    Kind.CANCELLED: "cancelled", Kind.RESTARTED: "restarted by the provider",
    Kind.REFUNDED: "refunded", Kind.QUEUE_STALLED: "stuck in the queue",
    Kind.PROGRESS_STALLED: "stopped making progress", Kind.ETA_OVERRUN: "running past its estimate",
    Kind.LOSS_ANOMALY: "loss went bad", Kind.PAUSED: "paused", Kind.RESUMED: "resumed",
    Kind.VANISHED: "vanished (the API answers 404)", Kind.AUTH_FAILED: "API key rejected",
    Kind.PROVIDER_DOWN: "API unreachable", Kind.CHANNEL_FAILED: "a notification channel failed",
    Kind.API_CHANGED: "API sent something new", Kind.BUDGET: "budget reached",
    Kind.COST_DIGEST: "daily cost digest",
    Kind.API_CHANGED: "API sent something new", Kind.PROVIDER_INCIDENT: "provider incident",
}
# fmt: on


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    title: str
    body: str
    notify_type: str  # info | success | warning | failure (apprise's notify types)
    fits: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class _Doc:
    summary: str
    required: tuple[tuple[str, str], ...]  # (label, text): cause and hint, never dropped
    items: tuple[str, ...] = ()  # one line per alert of a group
    details: tuple[tuple[str, str], ...] = ()  # most important first
    link: str | None = None
    path: tuple[str, ...] = ()
    events: tuple[str, ...] = ()  # oldest first
    events_of: str = ""
    labels: tuple[str, ...] = ()


def render(
    alerts: Sequence[Alert],
    fmt: BodyFormat,
    body_limit: int,
    title_limit: int,
    *,
    note: str | None = None,
    label_metadata: Sequence[str] = (),
) -> Message:
    """Render one message for `alerts` (one alert, a group, or a quiet-hours digest);
    `label_metadata` names the metadata keys the label lines carry (config)."""
    if not alerts:
        raise ValueError("render needs at least one alert")
    title = one_line(title_for(alerts))
    if title_limit > 0:
        title = _cut(title, title_limit)
    else:  # apprise moves the title into the body: it shares the body's budget
        title = _cut(title, MAX_TITLE)
        body_limit -= len(title) + MERGED_TITLE_OVERHEAD
    doc = _doc(alerts, note, label_metadata)
    body = _format(doc, fmt)
    fits = True
    if len(body) > body_limit:
        body, fits = _fit(doc, fmt, body_limit)
    worst = max((a.severity for a in alerts), key=lambda s: s.rank)
    return Message(title=title, body=body, notify_type=notify_type(worst), fits=fits)


def notify_type(severity: Severity) -> str:
    """Our four severities are apprise's four notify types, word for word."""
    return str(severity)


def title_for(alerts: Sequence[Alert]) -> str:
    first = alerts[0]
    if len(alerts) == 1:
        subject = f"{first.job_id} " if first.job_id else ""
        return f"{first.provider}: {subject}{_happened(first)}"
    if len({(a.kind, a.cause, a.state, a.provider) for a in alerts}) == 1:
        noun = "jobs" if first.job_id else "alerts"
        return f"{first.provider}: {len(alerts)} {noun} {_happened(first)}"
    providers = sorted({a.provider for a in alerts})
    where = providers[0] if len(providers) == 1 else "ftmon"
    counts = Counter(_WHAT[a.kind] for a in alerts)
    parts = ", ".join(f"{n} {what}" for what, n in counts.items())
    return f"{where}: {len(alerts)} alerts — {parts}"


def _happened(alert: Alert) -> str:
    what = _WHAT[alert.kind]
    if alert.state is ConditionState.RESOLVED:
        what = f"no longer {what}" if alert.job_id else f"{what} — resolved"
    elif alert.state is ConditionState.REMINDER:
        what = f"still {what}"
    if alert.kind is Kind.RESTARTED and alert.new_job:
        what = f"restarted as {alert.new_job}"
    if alert.kind is Kind.CHANNEL_FAILED and alert.facts.get("channel"):
        what = f"channel {alert.facts['channel']} failed and was disabled"
    if alert.kind is Kind.PROVIDER_INCIDENT and alert.state is not ConditionState.RESOLVED:
        jobs = alert.facts.get("jobs", "many")
        what = f"{what}: {jobs} {'job' if jobs == 1 else 'jobs'} in trouble"
    if alert.kind is Kind.API_CHANGED and alert.facts.get("what"):
        what = f"API sent a new {alert.facts['what']}: {alert.facts.get('value')}"
    if alert.kind is Kind.BUDGET and alert.facts.get("budget"):
        f = alert.facts
        spent = f"{_fact('spent_usd', f.get('spent_usd'))} in {f.get('period')}"
        what = f"{f.get('level')} budget {f['budget']} reached: {spent}"
    if alert.kind is Kind.COST_DIGEST and alert.facts.get("day"):
        what = f"cost on {alert.facts['day']}: net {_fact('net_usd', alert.facts.get('net_usd'))}"
    if alert.cause is not None and alert.cause is not Cause.UNKNOWN:
        return f"{what} — {CAUSE_PHRASES[alert.cause]}"
    return what


# -- building the document --------------------------------------------------------------


def _doc(alerts: Sequence[Alert], note: str | None, label_metadata: Sequence[str]) -> _Doc:
    first = alerts[0]
    labels = tuple(a.label_line(label_metadata) for a in alerts)
    prefix = f"{note}. " if note else ""
    if len(alerts) == 1:
        return _Doc(
            summary=prefix + first.summary,
            required=_required(first, ""),
            details=_details(first),
            link=_link(first),
            path=_path(first.status_path),
            events=first.recent_events,
            labels=labels,
        )
    shared = len({(a.cause, a.hint) for a in alerts}) == 1
    latest = max(alerts, key=lambda a: a.at)
    each = [_required(a, f" ({a.job_id or a.provider})") for a in alerts]
    return _Doc(
        summary=prefix + title_for(alerts) + ".",
        required=_required(first, "") if shared else tuple(r for rs in each for r in rs),
        items=tuple(_item(a, with_summary=not shared) for a in alerts),
        events=latest.recent_events,
        events_of=latest.job_id or latest.provider,
        labels=labels,
    )


def _required(alert: Alert, whose: str) -> tuple[tuple[str, str], ...]:
    cause = (
        [(f"Cause{whose}", f"{CAUSE_PHRASES[alert.cause]} ({alert.cause})")] if alert.cause else []
    )
    return (*cause, *([(f"Next step{whose}", alert.hint)] if alert.hint else []))


def _item(alert: Alert, *, with_summary: bool) -> str:
    parts = [alert.job_id or alert.provider, alert.summary if with_summary else ""]
    if alert.model:
        parts.append(alert.model + (f" → {alert.output_name}" if alert.output_name else ""))
    if alert.status_path:
        parts.append(f"{alert.status_path[-1][0]} at {_clock(alert.status_path[-1][1])}")
    return " · ".join(p for p in (*parts, _link(alert)) if p)


def _details(alert: Alert) -> tuple[tuple[str, str], ...]:
    out = [("State", _state(alert))] if alert.state is not None else []
    out += [("Model", alert.model)] if alert.model else []
    out += [("Output", alert.output_name)] if alert.output_name else []
    out += [("Restart of", alert.original_job)] if alert.original_job else []
    if alert.new_job:
        out.append(("Restarted as", f"{alert.new_job} (now followed automatically)"))
    for key, value in alert.facts.items():
        if key != "since":
            label = key.removesuffix("_usd").replace("_", " ").capitalize()
            refund = "refund" in key or (alert.kind is Kind.REFUNDED and "amount" in key)
            out.append(("Refund" if refund else label, _fact(key, value)))
    return (*out, *([("Detail", alert.detail)] if alert.detail else []))


def _state(alert: Alert) -> str:
    """Conditions say how long they have been firing when the alert knows since when."""
    since = alert.facts.get("since")
    try:
        start = datetime.fromisoformat(str(since))
    except ValueError:
        return str(alert.state) + (f" since {since}" if since else "")
    lasted = human_duration((alert.at - start).total_seconds())
    return f"{alert.state} for {lasted} (since {_clock(start)})"


def _fact(key: str, value: str | int | float | None) -> str:
    """Money (`*_usd`) in dollars and cents wherever it is shown, title or body."""
    if isinstance(value, int | float) and key.endswith("_usd"):
        return f"${value:,.2f}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and _ISO.match(value):
        return _clock(datetime.fromisoformat(value))
    return "-" if value is None else str(value)


_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)$")


def _link(alert: Alert) -> str | None:
    return alert.link if alert.job_id else None


def _path(path: Sequence[tuple[str, datetime]]) -> tuple[str, ...]:
    """`pending 2024-05-01 10:00:00 UTC → queued 10:00:05 (+5s) → …`: times and durations."""
    out = [f"{status} {_clock(at)}" for status, at in path[:1]]
    for (_, before), (status, at) in pairwise(path):
        shown = _clock(at) if at.date() != before.date() else f"{at:%H:%M:%S}"
        out.append(f"{status} {shown} (+{human_duration((at - before).total_seconds())})")
    return tuple(out)


def _clock(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


# -- fitting ------------------------------------------------------------------------------


def _fit(doc: _Doc, fmt: BodyFormat, limit: int) -> tuple[str, bool]:
    body = _format(doc, fmt)
    for smaller in _shrinking(doc):
        body = _format(smaller, fmt)
        if len(body) <= limit:
            return body, True
        doc = smaller
    summary = doc.summary
    while summary:  # the last resort: cut the summary's free text
        keep = len(summary) - (len(body) - limit)
        summary = _cut(summary, keep) if keep > 1 else ""
        body = _format(replace(doc, summary=summary), fmt)
        if len(body) <= limit:
            return body, True
    return body, False


def _shrinking(doc: _Doc) -> Iterator[_Doc]:
    """Ever smaller versions of `doc`, in the contract's order of what goes first."""
    steps: list[Callable[[_Doc], _Doc]] = [
        *(lambda d: replace(d, events=d.events[1:]) for _ in doc.events),
        lambda d: replace(d, path=d.path[:1] + d.path[-1:]),
        lambda d: replace(d, path=()),
        lambda d: replace(d, items=tuple(i.split(" · ")[0] for i in d.items)),
        lambda d: replace(d, link=None),
        *(lambda d: replace(d, details=d.details[:-1]) for _ in doc.details),
        lambda d: replace(d, items=()),
    ]
    for step in steps:
        doc = step(doc)
        yield doc


# -- formats --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Style:
    escape: Callable[[str], str]  # for free text
    verbatim: Callable[[str], str]  # for label lines: nothing that could change them
    field: str  # "{0}" is the escaped label, "{1}" the escaped text
    bullet: str
    link: str
    label: str
    line: str  # how a line is kept a line
    gap: str  # between the message and its label lines


def _html(text: str) -> str:
    return html.escape(one_line(text))


_LINK = "Open the job in the dashboard"
_STYLES: dict[str, _Style] = {
    "text": _Style(one_line, one_line, "{0}: {1}", "- {0}", "{0}", "{0}", "{0}", ""),
    "markdown": _Style(lambda t: _md_escape(t), lambda t: one_line(t).replace("`", "'"),
                       "**{0}:** {1}", "- {0}", f"[{_LINK}]({{0}})", "`{0}`", "{0}", ""),
    "html": _Style(_html, _html, "<b>{0}:</b> {1}", "• {0}",
                   f'<a href="{{0}}">{_LINK}</a>', '<span style="font-family:monospace">{0}</span>',
                   "<div>{0}</div>", "<br>"),
}  # fmt: skip


def _format(doc: _Doc, fmt: BodyFormat) -> str:
    st = _STYLES[fmt]
    esc = st.escape

    def fields(pairs: Sequence[tuple[str, str]]) -> list[str]:
        return [st.field.format(esc(label), esc(text)).rstrip() for label, text in pairs]

    def listing(heading: str, entries: Sequence[str]) -> list[str]:
        return [*fields([(heading, "")]), *(st.bullet.format(esc(e)) for e in entries)]

    lines = [esc(doc.summary)] if doc.summary else []
    lines += fields(doc.required)
    lines += listing("Jobs", doc.items) if doc.items else []
    lines += fields(doc.details)
    lines += fields([("Status", " → ".join(doc.path))]) if doc.path else []
    of = f" ({doc.events_of})" if doc.events_of else ""
    lines += listing(f"Recent events{of}", doc.events) if doc.events else []
    lines += [st.link.format(esc(doc.link))] if doc.link else []
    lines += [st.gap, *(st.label.format(st.verbatim(label)) for label in doc.labels)]
    return "\n".join(st.line.format(line) if line else line for line in lines)


_MD_SPECIAL = re.compile(r"([\\`*\[\]<>~|])")
_MD_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_MD_LINE_START = re.compile(r"^([#>+\-])")


def _md_escape(text: str) -> str:
    """Keep provider text literal in Slack: no accidental bold, links, mentions or headings.

    Underscores inside words (`snake_case`) are left alone; neither CommonMark nor Slack
    reads them as emphasis.
    """
    text = _MD_SPECIAL.sub(r"\\\1", one_line(text))
    text = _MD_EDGE_UNDERSCORE.sub(r"\\_", text)
    return _MD_LINE_START.sub(r"\\\1", text)
