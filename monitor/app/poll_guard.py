"""What keeps one strange answer from stopping a provider (shell helpers of `poll`).

A provider may answer anything. The boundary (`monitor.providers`) maps what it can
foresee onto `ProviderError`s; this module is the net under everything else:

    the fetch (list, retrieves, logs)   bounded by the poll's deadline; a crash or the
                                        deadline is a failed poll (`ProviderUnavailable`),
                                        which counts toward `monitor.provider_down`
    one job's read                      a crash is that job's error: logged, the job left
                                        as it was and read again next cycle
    the diff                            all jobs at once; if that raises, job by job, and a
                                        job whose diff raises is skipped (logged once per
                                        job and error), the others committed
    what is stored and sent             every alert's text and the stored error pass the
                                        redactor (whatever secret a provider echoed)

A `StoreError` is never caught here: a state file that cannot be written is the store's
story, told by the caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

import anyio
import structlog

from monitor.core import provider_poll
from monitor.core.alerts import Alert
from monitor.core.errors import ProviderError, ProviderUnavailable, StoreError
from monitor.core.memory import JobState
from monitor.core.provider_poll import PolledJob
from monitor.core.redact import REDACTOR
from monitor.core.settings import Thresholds

log = structlog.get_logger("ftmon.service")
T = TypeVar("T")

DiffProvider = Callable[..., tuple[list[JobState], list[Alert]]]  # provider_poll's signature
POLL_DEADLINE = 120.0  # seconds for one provider's whole fetch, pauses included


async def bounded_fetch(provider: str, fetch: Callable[[], Awaitable[T]], deadline: float) -> T:
    """`fetch()` within `deadline` seconds; anything but a ProviderError or a StoreError it
    raises becomes a retryable poll failure named in our words."""
    try:
        with anyio.fail_after(deadline):
            return await fetch()
    except (ProviderError, StoreError):
        raise
    except TimeoutError:
        detail = f"the poll did not complete within {deadline:g}s"
        raise ProviderUnavailable(provider, detail) from None
    except Exception as exc:
        log.exception("poll_read_crashed", provider=provider)
        detail = f"an answer could not be read ({_kind(exc)})"
        raise ProviderUnavailable(provider, detail) from None


def _kind(exc: BaseException) -> str:
    """The exception's class; for a group of one, the class inside."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return type(exc).__name__


class DiffFailures:
    """Which (job, error) pairs were logged already, so a job that fails every cycle is
    logged once, not once a minute."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str]] = set()

    def report(self, provider: str, job_id: str, exc: Exception) -> None:
        key = (provider, job_id, type(exc).__name__)
        if key in self._seen:
            return
        self._seen.add(key)
        log.error(
            "job_diff_failed",
            provider=provider,
            job=job_id,
            error_type=type(exc).__name__,
            exc_info=exc,
        )


def diff_isolated(
    provider: str,
    states: Mapping[str, JobState],
    polled: Sequence[PolledJob],
    now: datetime,
    thresholds: Thresholds,
    failures: DiffFailures,
    *,
    baseline: bool = False,
    quiet_before: datetime | None = None,
    diff: DiffProvider = provider_poll.diff_provider,
) -> tuple[list[JobState], list[Alert], int]:
    """`provider_poll.diff_provider`, or, when it raises, the same job by job in the same
    order (each seeing the states the earlier ones left), skipping the jobs whose diff
    raises. Returns the changed states, the alerts, and how many jobs were skipped."""

    def run(
        known: Mapping[str, JobState], jobs: Sequence[PolledJob]
    ) -> tuple[list[JobState], list[Alert]]:
        return diff(known, jobs, now, thresholds, baseline=baseline, quiet_before=quiet_before)

    try:
        states_out, alerts = run(states, polled)
        return states_out, alerts, 0
    except Exception:  # retried job by job just below, where the culprit is logged
        log.debug("diff_retried_job_by_job", provider=provider)
    known = dict(states)
    changed: dict[str, JobState] = {}
    alerts = []
    skipped = 0
    for job in sorted(polled, key=lambda j: (j.snapshot.created_at, j.snapshot.id)):
        try:
            one_states, one_alerts = run(known, [job])
        except Exception as exc:  # the job's own error: it stays as it was
            failures.report(provider, job.snapshot.id, exc)
            skipped += 1
            continue
        for state in one_states:
            known[state.job_id] = changed[state.job_id] = state
        alerts += one_alerts
    return list(changed.values()), alerts, skipped


def redacted(alert: Alert) -> Alert:
    """The alert with every free-text field passed through the redactor."""
    facts = {k: REDACTOR(v) if isinstance(v, str) else v for k, v in alert.facts.items()}
    return replace(
        alert,
        summary=REDACTOR(alert.summary),
        detail=_opt(alert.detail),
        model=_opt(alert.model),
        output_name=_opt(alert.output_name),
        facts=facts,
        recent_events=tuple(REDACTOR(e) for e in alert.recent_events),
    )


def _opt(text: str | None) -> str | None:
    return None if text is None else REDACTOR(text)
