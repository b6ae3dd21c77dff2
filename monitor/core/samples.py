"""Realistic sample alerts, one for every kind: for `ftmon test-notify` and for tests.

Each sample looks like what the diff engine raises for that fact (cause, hint, status path,
recent provider events, label line), with two differences a reader (or a machine reading
the label line) can see: the summary says it is a test, and the job id contains `test`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.core.alerts import HINTS, KIND_HINTS, Alert, Cause, ConditionState, Kind, Severity

TEST_NOTE = "This is a test message from ftmon test-notify; no job changed."


def sample_alert(kind: Kind, now: datetime, nonce: str, provider: str | None = None) -> Alert:
    """A sample `kind` alert at `now`; `nonce` makes its dedup key unique per invocation."""
    spec = _SPECS[kind]
    pkind = spec.get("provider_kind", "together")
    job = spec.get("job", _job_id(str(pkind), nonce))
    cause = spec.get("cause")
    state = spec.get("state")
    hint = HINTS[cause] if isinstance(cause, Cause) else KIND_HINTS.get(kind)
    t0 = now - timedelta(minutes=47)
    about = "ftmon" if kind in _ABOUT_FTMON else provider or _PROVIDERS[str(pkind)]
    return Alert(
        kind=kind,
        severity=spec["severity"],  # type: ignore[arg-type]
        provider=about,
        provider_kind=None if job is None else str(pkind),
        job_id=None if job is None else str(job),
        at=now,
        summary=f"{_fill(str(spec['summary']), about, now)} {TEST_NOTE}",
        dedup_key=f"test-notify:{kind}:{nonce}",
        cause=cause if isinstance(cause, Cause) else None,
        hint=hint,
        state=state if isinstance(state, ConditionState) else None,
        new_job=_job_id(str(pkind), nonce + "-new") if kind is Kind.RESTARTED else None,
        model=None if job is None else _MODELS[str(pkind)],
        output_name=_output(str(pkind), nonce) if kind is Kind.SUCCEEDED else None,
        suffix=None if job is None else "support-bot",
        detail=str(spec["detail"]) if "detail" in spec else None,
        facts=_facts(kind, now),
        status_path=() if job is None else _path(kind, t0),
        recent_events=() if job is None else _events(kind, pkind == "together", t0),
    )


def _fill(summary: str, provider: str, now: datetime) -> str:
    """The provider, days and times a summary names agree with the sample's own facts."""
    first, last = _seen(now)
    words = {
        "<provider>": provider,
        "<day>": f"{now:%Y-%m-%d}",
        "<yesterday>": f"{now - timedelta(days=1):%Y-%m-%d}",
        "<seen>": f"{first:%Y-%m-%d %H:%M}–{last:%H:%M}",
    }
    for word, value in words.items():
        summary = summary.replace(word, value)
    return summary


def _seen(now: datetime) -> tuple[datetime, datetime]:
    """When the sample incident's first and last troubles were seen (UTC)."""
    last = (now - timedelta(hours=1, minutes=12)).astimezone(UTC)
    return last - timedelta(minutes=19), last


_ABOUT_FTMON = frozenset({Kind.CHANNEL_FAILED, Kind.COST_DIGEST})  # about no one provider


def _job_id(pkind: str, nonce: str) -> str:
    return f"ftjob-test{nonce}" if pkind == "openai" else f"ft-test-{nonce}"


def _output(pkind: str, nonce: str) -> str:
    if pkind == "openai":
        return f"ft:gpt-4o-mini-2024-07-18:acme:support-bot:{nonce[:8]}"
    return f"acme/Meta-Llama-3.1-8B-Instruct-Reference-support-bot-{nonce[:6]}"


_PROVIDERS = {"together": "together-prod", "openai": "openai-prod"}
_MODELS = {
    "together": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "openai": "gpt-4o-mini-2024-07-18",
}
_TERMINAL = {
    Kind.SUCCEEDED: "succeeded",
    Kind.FAILED: "failed",
    Kind.CANCELLED: "cancelled",
    Kind.RESTARTED: "failed",
}


def _path(kind: Kind, t0: datetime) -> tuple[tuple[str, datetime], ...]:
    path = [("pending", t0), ("queued", t0 + timedelta(seconds=4))]
    if kind in (Kind.QUEUE_STALLED,):
        return tuple(path)
    path.append(("running", t0 + timedelta(minutes=3, seconds=12)))
    if kind in _TERMINAL:
        path.append((_TERMINAL[kind], t0 + timedelta(minutes=46, seconds=31)))
    return tuple(path)


def _events(kind: Kind, together: bool, t0: datetime) -> tuple[str, ...]:
    def at(minutes: float) -> str:
        return f"{t0 + timedelta(minutes=minutes):%H:%M:%S}"

    base = [
        f"{at(0.1)} started: Job started" if together else f"{at(0.1)} message: Validating file",
        f"{at(3.2)} model_downloaded: Model downloaded"
        if together
        else f"{at(3.2)} message: Fine-tuning job started",
        f"{at(20)} training_progress: Step 120/480, train_loss=1.284",
    ]
    last = {
        Kind.CANCELLED: f"{at(46.5)} billing_limit: Job cancelled: the billing limit was reached",
        Kind.FAILED: f"{at(46.5)} data_error: Training data failed validation at line 1042",
        Kind.RESTARTED: f"{at(46.5)} restarted: Internal error; restarted under a new id",
        Kind.LOSS_ANOMALY: f"{at(46.5)} training_progress: Step 301/480, train_loss=nan",
        Kind.REFUNDED: f"{at(46.5)} refund: Refunded $4.20 for the failed job",
    }
    if kind is Kind.QUEUE_STALLED:
        return tuple(base[:1])
    return (*base, last[kind]) if kind in last else tuple(base)


def _facts(kind: Kind, now: datetime) -> dict[str, str | int | float | None]:
    since = (now - timedelta(hours=1, minutes=12)).isoformat()
    facts: dict[Kind, dict[str, str | int | float | None]] = {
        Kind.REFUNDED: {"refund_usd": 4.2},
        Kind.QUEUE_STALLED: {"since": since, "queue_depth": 14},
        Kind.PROGRESS_STALLED: {"since": since, "last_step": 301},
        Kind.ETA_OVERRUN: {"since": since, "estimated_finish": since},
        Kind.LOSS_ANOMALY: {"step": 301, "train_loss": float("nan")},
        Kind.PROVIDER_DOWN: {"since": since, "last_error": "HTTP 503 Service Unavailable"},
        Kind.AUTH_FAILED: {"since": since, "last_error": "HTTP 401 Unauthorized"},
        Kind.CHANNEL_FAILED: {"channel": "ops-webhook", "error": "HTTP 404 Not Found"},
        Kind.PROVIDER_INCIDENT: {
            "since": since,
            "jobs": 7,
            "cause_class": "failed, queued",
            "window_start": _seen(now)[0].isoformat(),
            "window_end": _seen(now)[1].isoformat(),
            "status_page": "https://status.together.ai",
        },
        Kind.API_CHANGED: {
            "what": "status",
            "value": "preempted",
            "example_job": "ft-test-3f9c1a2e-77b0-4d1e-9a51-0c2e8d6b4f10",
        },
        Kind.BUDGET: {
            "budget": "together-daily",
            "period": f"{now:%Y-%m-%d}",
            "level": "warning",
            "threshold_usd": 40.0,
            "spent_usd": 43.72,
            "charged_usd": 56.12,
            "refunded_usd": 12.4,
            "price_not_given": 0,
        },
        Kind.COST_DIGEST: {
            "day": f"{now - timedelta(days=1):%Y-%m-%d}",
            "net_usd": 31.44,
            "charged_usd": 43.84,
            "refunded_usd": 12.4,
            "jobs": 5,
            "price_not_given": 2,
        },
    }
    return facts.get(kind, {})


_F, _W, _I, _S = Severity.FAILURE, Severity.WARNING, Severity.INFO, Severity.SUCCESS
_FIRING = ConditionState.FIRING
_SPECS: dict[Kind, dict[str, object]] = {
    Kind.STARTED: {"severity": _I, "summary": "Training started."},
    Kind.SUCCEEDED: {
        "severity": _S,
        "provider_kind": "openai",
        "summary": "Fine-tuning finished; the output model is ready to use.",
    },
    Kind.FAILED: {
        "severity": _F,
        "cause": Cause.DATA_VALIDATION,
        "summary": "The job failed: the training data did not pass validation.",
    },
    Kind.CANCELLED: {
        "severity": _F,
        "cause": Cause.BILLING_LIMIT,
        "summary": "Together cancelled the job because the account's billing limit was reached.",
    },
    Kind.RESTARTED: {
        "severity": _W,
        "cause": Cause.PROVIDER_ERROR,
        "summary": "The provider restarted the job under a new id after an internal error.",
    },
    Kind.REFUNDED: {"severity": _I, "summary": "The provider refunded the job."},
    Kind.QUEUE_STALLED: {
        "severity": _W,
        "state": _FIRING,
        "provider_kind": "openai",
        "summary": "The job has been waiting in the queue for over an hour.",
    },
    Kind.PROGRESS_STALLED: {
        "severity": _W,
        "state": _FIRING,
        "summary": "Running, but no new event, step or checkpoint for 45 minutes.",
    },
    Kind.ETA_OVERRUN: {
        "severity": _W,
        "state": _FIRING,
        "provider_kind": "openai",
        "summary": "Training is running past the provider's estimated finish.",
    },
    Kind.LOSS_ANOMALY: {
        "severity": _F,
        "cause": Cause.LOSS_NAN,
        "summary": "Training loss became NaN at step 301.",
    },
    Kind.PAUSED: {"severity": _I, "provider_kind": "openai", "summary": "The job was paused."},
    Kind.RESUMED: {"severity": _I, "provider_kind": "openai", "summary": "The job resumed."},
    Kind.VANISHED: {
        "severity": _W,
        "provider_kind": "openai",
        "summary": "A tracked, unfinished job now answers 404.",
    },
    Kind.AUTH_FAILED: {
        "severity": _F,
        "cause": Cause.AUTH,
        "state": _FIRING,
        "job": None,
        "provider_kind": "openai",
        "summary": "The provider rejected the API key (401).",
    },
    Kind.PROVIDER_DOWN: {
        "severity": _F,
        "state": _FIRING,
        "job": None,
        "summary": "Every poll of the provider has failed for 10 minutes (5xx, timeouts).",
    },
    Kind.API_CHANGED: {
        "severity": _W,
        "job": None,
        "summary": (
            "The API sent a status ftmon does not know: 'preempted' (first on job "
            "ft-test-3f9c1a2e-77b0-4d1e-9a51-0c2e8d6b4f10). ftmon may be missing facts "
            "about jobs."
        ),
    },
    Kind.BUDGET: {
        "severity": _W,
        "job": None,
        "summary": (
            "Budget together-daily (<provider>, per day, <day>): net spend $43.72 reached the "
            "warning threshold $40.00 (failure at $80.00). 4 piece(s) of work, charged "
            "$56.12, refunded $12.40."
        ),
    },
    Kind.COST_DIGEST: {
        "severity": _I,
        "job": None,
        "summary": (
            "Cost on <yesterday> (UTC): net $31.44 for 4 piece(s) of work (5 job(s)), charged "
            "$43.84, refunded $12.40; 2 job(s): price not given."
        ),
        "detail": (
            "openai-prod: 2 job(s), price not given, 1,843,200 trained tokens; "
            "together-prod: net $31.44 (3 job(s), refunded $12.40); "
            "model gpt-4o-mini-2024-07-18: 2 job(s), price not given, 1,843,200 trained tokens; "
            "model meta-llama/Meta-Llama-3.1-8B-Instruct-Reference: net $31.44 (3 job(s), "
            "refunded $12.40)"
        ),
    },
    Kind.PROVIDER_INCIDENT: {
        "severity": _F,
        "state": _FIRING,
        "job": None,
        "summary": (
            "7 jobs hit trouble on the provider's side within 30m (seen <seen> "
            "UTC): 5 failed on the provider's side; 2 stuck in the queue. Jobs: ft-test-0000, "
            "ft-test-0001, ft-test-0002, ft-test-0003, ft-test-0004, ft-test-0005, "
            "ft-test-0006."
        ),
    },
    Kind.CHANNEL_FAILED: {
        "severity": _F,
        "job": None,
        "summary": "Notification channel ops-webhook failed permanently and was disabled.",
    },
}
