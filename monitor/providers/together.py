"""Together AI fine-tuning: wire shapes → the normalized model (provider-apis.md section 1).

Sections, in the same order as openai.py: tables, parsing (pure, module-level, tested by
tables), the client.

Wire facts this module relies on: ISO-8601 times (`…Z`, with or without a fraction);
`total_price` in nano-dollars; no pagination anywhere; list order not guaranteed. Event
lines are parsed in `together_events`, metrics rows in `together_metrics`.

Normalization (provider-apis.md section 4): the status maps onto a `Phase`; the
estimate is made absolute here, anchored on the training stage's `started_at`
(`seconds_remaining` is the stage's expected length, counted from the stage's start, as
Together's own CLIs read it), and only while the job trains with `estimate_available`;
`started_at` never means "the job started".

Strictness: a listed job needs `id`, `status` and `created_at` (the truncated shape's
required fields); a retrieved one only `id` and `status` (the spec's); a list envelope
needs its `data` list. One unreadable job in `GET /fine-tunes` makes the whole list a
`ProviderSchemaError`: a partial list must never look like jobs vanished.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import httpx

from monitor.core.model import (
    Checkpoint,
    JobEvent,
    JobSnapshot,
    LossPoint,
    Phase,
    ProviderTraits,
    Status,
)
from monitor.core.settings import ProviderConfig
from monitor.providers._fields import (
    EPOCH,
    MAX_EPOCHS,
    JsonObject,
    Where,
    as_object,
    bounded_float,
    envelope_items,
    finite_float,
    iso_time,
    mistyped,
    opt_bool,
    opt_int,
    opt_str,
    read_identity,
    word_in,
    word_novelty,
)
from monitor.providers._list_reader import JobListReader
from monitor.providers._repeats import ListMemo
from monitor.providers.base import Keep
from monitor.providers.http_client import ProviderHttp, ResponseCounter, job_path
from monitor.providers.together_events import parse_event_list, parse_events
from monitor.providers.together_metrics import MetricRow, loss_points, parse_metrics
from monitor.providers.together_words import parse_phase

# --- traits and tables ------------------------------------------------------------------

TRAITS = ProviderTraits(
    kind="together",
    base_url="https://api.together.ai/v1",  # the spec's server; api.together.xyz is older
    dashboard_url="https://api.together.ai/fine-tuning/{job_id}",
    events_cursor=False,
    list_pages=False,
    losses_need_request=True,
    restarts_jobs=True,
    cancels_jobs=True,
    list_lacks_progress=True,
    retrieve_has_log=True,
    status_page="https://status.together.ai",
    unexplained_cancel_hint=(
        "Together cancels jobs on its own, usually after a failed balance check (add "
        "funds; a minimum balance of $5 is required) or for an invalid Weights & Biases "
        "key. Check the job's event log to confirm the cause."
    ),
)

STATUS: Mapping[str, Status] = {
    "pending": Status.PENDING,
    "queued": Status.QUEUED,
    "running": Status.RUNNING,
    "compressing": Status.RUNNING,
    "uploading": Status.RUNNING,
    "cancel_requested": Status.CANCELLING,
    "completed": Status.SUCCEEDED,
    "error": Status.FAILED,
    "user_error": Status.FAILED,
    "cancelled": Status.CANCELLED,
}

# Documented fields and their JSON types: another type reads as absent (`mistyped`).
NUMBER, INTEGER, TEXT = (int, float), (int,), (str,)
TYPED_FIELDS: Mapping[str, tuple[type, ...]] = {
    "total_price": NUMBER,
    "n_epochs": INTEGER,
    "epochs_completed": INTEGER,
    "steps_completed": INTEGER,
    "total_steps": INTEGER,
    "queue_depth": INTEGER,
    "model": TEXT,
    "model_output_name": TEXT,
    "training_file": TEXT,
    "progress": (dict,),
}

NANODOLLARS_PER_USD = 1_000_000_000
MAX_ESTIMATE = 10 * 365 * 86_400.0  # seconds; a longer estimate is no estimate
JOBS = "fine-tunes"


# --- parsing (pure) ----------------------------------------------------------------------


def parse_status(raw: str) -> Status:
    """The normalized status; anything new is `unknown` (the caller logs it once)."""
    return word_in(STATUS, raw, Status.UNKNOWN)


def estimated_finish(
    progress: object, phase: Phase, started_at: datetime | None
) -> datetime | None:
    """The training stage's end: `started_at + seconds_remaining`, anchored on the stage's
    start (provider-apis.md section 4, item 1), so it does not move from poll to poll.

    None outside training (an estimate for the queue or for compressing says nothing
    about training), when `estimate_available` is not true, or for a value <= 0.
    """
    if phase is not Phase.TRAINING or started_at is None or not isinstance(progress, Mapping):
        return None
    if opt_bool(progress, "estimate_available") is not True:
        return None
    seconds = bounded_float(progress.get("seconds_remaining"), 0.0, MAX_ESTIMATE)
    if seconds is None or seconds <= 0:
        return None
    try:
        return started_at + timedelta(seconds=seconds)
    except OverflowError:
        return None


def _price_usd(total_price: object) -> float | None:
    nanodollars = finite_float(total_price)
    return None if nanodollars is None else nanodollars / NANODOLLARS_PER_USD


def parse_job(
    raw: object, provider: str, where: Where | None = None, *, listed: bool = True
) -> JobSnapshot:
    """A full (`retrieve`, `listed=False`) or truncated (list) job; its embedded `events`
    become the log. A retrieved job without `created_at` borrows `updated_at` or
    `started_at` (the caller keeps the creation time it already knows)."""
    ident = read_identity(raw, where or Where(provider), iso_time, created_required=listed)
    obj = ident.obj
    events = obj.get("events")
    # A list entry's `events` is empty: no error path for it to build.
    log = (
        parse_events(events, ident.where.at("events"))
        if isinstance(events, list) and events
        else []
    )
    updated_at, started_at = iso_time(obj.get("updated_at")), iso_time(obj.get("started_at"))
    phase = parse_phase(ident.status)
    return JobSnapshot(
        provider=provider,
        kind=TRAITS.kind,
        id=ident.id,
        status=parse_status(ident.status),
        raw_status=ident.status,
        created_at=ident.created_at or updated_at or started_at or EPOCH,
        phase=phase,
        traits=TRAITS,
        provider_fault=ident.status.strip().lower() == "error",  # Together-side, per its docs
        updated_at=updated_at,
        started_at=started_at,
        model=opt_str(obj, "model"),
        output_name=opt_str(obj, "model_output_name"),
        training_file=opt_str(obj, "training_file"),
        suffix=opt_str(obj, "suffix"),
        n_epochs=opt_int(obj, "n_epochs", at_most=MAX_EPOCHS),
        epochs_completed=opt_int(obj, "epochs_completed"),
        steps_completed=opt_int(obj, "steps_completed"),
        total_steps=opt_int(obj, "total_steps"),
        queue_depth=opt_int(obj, "queue_depth"),
        estimated_finish=estimated_finish(obj.get("progress"), phase, started_at),
        early_stopped=opt_bool(obj, "early_stopped") is True,
        early_stop_step=opt_int(obj, "early_stopping_best_step"),
        early_stop_metric=finite_float(obj.get("early_stopping_best_metric")),
        price_usd=_price_usd(obj.get("total_price")),
        wandb_url=opt_str(obj, "wandb_url"),
        wandb_project=opt_str(obj, "wandb_project_name"),
        events=tuple(log),
        novelties=word_novelty(STATUS, ident.status, "status") + mistyped(obj, TYPED_FIELDS),
    )


def parse_job_list(raw: object, provider: str) -> list[JobSnapshot]:
    """`GET /fine-tunes`, newest first. One bad job fails the whole list (see module doc)."""
    where = Where(provider)
    items = envelope_items(raw, where)
    jobs = [parse_job(item, provider, where.at(f"data[{i}].")) for i, item in enumerate(items)]
    return sorted(jobs, key=lambda j: j.created_at, reverse=True)


def list_reader(
    provider: str,
    *,
    created_after: datetime | None = None,
    keep: Keep | None = None,
    memo: ListMemo | None = None,
) -> JobListReader:
    """`GET /fine-tunes` read as it arrives (one body, no paging)."""
    return JobListReader(
        provider,
        lambda raw, where: parse_job(raw, provider, where),
        lambda raw: (parse_job_list(raw, provider), False),
        created_after=created_after,
        keep=keep,
        memo=memo,
    )


def _checkpoint_name(obj: JsonObject, job_id: str, step: int | None) -> str:
    """The registry name, else the storage path, else the download name the CLI would use."""
    label = opt_str(obj, "checkpoint_type") or ""
    derived = f"{job_id}:{step}" if "intermediate" in label.lower() else job_id
    return opt_str(obj, "object_name") or opt_str(obj, "path") or derived


def parse_checkpoints(raw: object, provider: str, job_id: str) -> list[Checkpoint]:
    """`GET /fine-tunes/{id}/checkpoints`, by step ascending (the API order is unspecified)."""
    where = Where(provider, job_id)
    result = []
    for i, item in enumerate(envelope_items(raw, where)):
        obj = as_object(item, where, f"data[{i}]")
        step = opt_int(obj, "step")
        name = _checkpoint_name(obj, job_id, step)
        result.append(Checkpoint(step=step, created_at=iso_time(obj.get("created_at")), name=name))
    return sorted(result, key=lambda c: (c.step is None, c.step or 0))


# --- the client ----------------------------------------------------------------------------


class TogetherClient:
    """`ProviderClient` for Together AI: one request per call, never a retry."""

    kind: str = TRAITS.kind
    traits: ProviderTraits = TRAITS

    def __init__(
        self,
        cfg: ProviderConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_response: ResponseCounter | None = None,
    ) -> None:
        self.name = cfg.name
        self._http = ProviderHttp(cfg, transport=transport, on_response=on_response)
        self._memo = ListMemo()  # the last list's entries: those left alone are skipped

    async def list_jobs(
        self, *, created_after: datetime | None, keep: Keep | None = None
    ) -> list[JobSnapshot]:
        """One `GET /fine-tunes` (no params); filtered by `created_after` here, newest first."""
        reader = list_reader(self.name, created_after=created_after, keep=keep, memo=self._memo)
        await self._http.read(JOBS, reader.feed)
        reader.end()
        return reader.jobs()

    async def retrieve(self, job_id: str) -> JobSnapshot:
        raw = await self._http.get_json(job_path(JOBS, job_id), job_id=job_id)
        return parse_job(raw, self.name, Where(self.name, job_id), listed=False)

    async def events(self, job_id: str, *, after_key: str | None) -> list[JobEvent]:
        """The whole log, oldest first; `after_key` is ignored (Together has no cursor)."""
        raw = await self._http.get_json(job_path(JOBS, job_id, "events"), job_id=job_id)
        return parse_event_list(raw, self.name, job_id)

    async def checkpoints(self, job_id: str) -> list[Checkpoint]:
        raw = await self._http.get_json(job_path(JOBS, job_id, "checkpoints"), job_id=job_id)
        return parse_checkpoints(raw, self.name, job_id)

    async def metrics(self, job_id: str, *, from_step: int | None = None) -> list[MetricRow]:
        """Training and eval metric rows, chronological, from `from_step` on (Together only)."""
        params = {} if from_step is None else {"global_step_from": from_step}
        path = job_path(JOBS, job_id, "metrics")
        return parse_metrics(
            await self._http.get_json(path, params=params, job_id=job_id), self.name, job_id
        )

    async def losses(self, job_id: str, *, after_step: int | None) -> list[LossPoint]:
        """The train rows' losses past `after_step` (eval rows are another curve)."""
        rows = await self.metrics(job_id, from_step=None if after_step is None else after_step + 1)
        return loss_points(rows)

    async def aclose(self) -> None:
        await self._http.aclose()
