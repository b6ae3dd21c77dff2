"""OpenAI fine-tuning: wire shapes → the normalized model (provider-apis.md section 2).

Sections, in the same order as together.py: tables, parsing (pure, module-level, tested by
tables), the client.

Wire facts this module relies on: unix-second times; lists are
`{"object": "list", "data": [...], "has_more": bool}`, newest first, paged with
`after=<last id>`; `error` may be an all-null placeholder on a healthy job. Event lines
are parsed in `openai_events`.

Normalization (provider-apis.md section 4): OpenAI never restarts a job (its events are
only `message` or `metrics`), so its traits say so; `estimated_finish` null or <= 0 (the
API reference's examples show `0`) is no estimate.

Strictness: only a job's `id`, `status` and `created_at` and a list envelope's `data`
list are required (a missing `has_more` reads
as the last page). One unreadable job in a page makes the whole list a
`ProviderSchemaError`: a partial list must never look like jobs vanished.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import httpx

from monitor.core.errors import ProviderSchemaError
from monitor.core.model import (
    Checkpoint,
    JobError,
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
    envelope_items,
    has_more,
    mistyped,
    opt_int,
    opt_str,
    read_identity,
    unix_time,
    word_in,
    word_novelty,
)
from monitor.providers._list_reader import JobListReader
from monitor.providers._repeats import ListMemo
from monitor.providers.base import Keep
from monitor.providers.http_client import ProviderHttp, ResponseCounter, job_path
from monitor.providers.openai_events import oldest_first, parse_event_page
from monitor.providers.openai_words import PHASES

# --- traits and tables ------------------------------------------------------------------

TRAITS = ProviderTraits(
    kind="openai",
    base_url="https://api.openai.com/v1",
    dashboard_url="https://platform.openai.com/finetune/{job_id}",
    events_cursor=True,
    list_pages=True,
    losses_need_request=False,  # they arrive as `metrics` lines in the log
    restarts_jobs=False,
    cancels_jobs=False,  # a cancellation comes from the API, i.e. a person or their code
    list_lacks_progress=False,
    retrieve_has_log=False,
    status_page="https://status.openai.com",
)

STATUS: Mapping[str, Status] = {
    "validating_files": Status.PENDING,
    "created": Status.PENDING,
    "queued": Status.QUEUED,
    "running": Status.RUNNING,
    "paused": Status.PAUSED,
    "succeeded": Status.SUCCEEDED,
    "failed": Status.FAILED,
    "cancelled": Status.CANCELLED,
}

# Documented fields and their JSON types: another type reads as absent (`mistyped`).
TYPED_FIELDS: Mapping[str, tuple[type, ...]] = {
    "fine_tuned_model": (str,),
    "trained_tokens": (int,),
    "estimated_finish": (int, float),
    "finished_at": (int, float),
    "error": (dict,),
    "model": (str,),
    "training_file": (str,),
}

PAGE_SIZE = 100
MAX_PAGES = 1000  # 100,000 items: a server that never says has_more=false cannot spin us
JOBS = "fine_tuning/jobs"


# --- parsing (pure) ----------------------------------------------------------------------


def parse_status(raw: str) -> Status:
    """The normalized status; anything new is `unknown` (the caller logs it once)."""
    return word_in(STATUS, raw, Status.UNKNOWN)


def estimated_finish(value: object) -> datetime | None:
    """`estimated_finish` as a time; null and any value <= 0 mean no estimate."""
    when = unix_time(value)
    return when if when is not None and when > EPOCH else None


def parse_error(raw: object) -> JobError | None:
    """`error{code,message,param}`, or None for null and for the all-null placeholder."""
    if not isinstance(raw, Mapping):
        return None
    code, message = opt_str(raw, "code"), opt_str(raw, "message")
    if code is None and message is None:
        return None
    return JobError(code=code, message=message, param=opt_str(raw, "param"))


def _n_epochs(obj: JsonObject) -> int | None:
    """`hyperparameters.n_epochs` when an int (not `"auto"`), else the method's copy."""
    for holder in (obj.get("hyperparameters"), _method_hyperparameters(obj.get("method"))):
        if (
            isinstance(holder, Mapping)
            and (n := opt_int(holder, "n_epochs", at_most=MAX_EPOCHS)) is not None
        ):
            return n
    return None


def _method_hyperparameters(method: object) -> object:
    if not isinstance(method, Mapping):
        return None
    kind = method.get("type")
    detail = method.get(kind) if isinstance(kind, str) else None
    return detail.get("hyperparameters") if isinstance(detail, Mapping) else None


def parse_job(raw: object, provider: str, where: Where | None = None) -> JobSnapshot:
    ident = read_identity(raw, where or Where(provider), unix_time)
    obj = ident.obj
    return JobSnapshot(
        provider=provider,
        kind=TRAITS.kind,
        id=ident.id,
        status=parse_status(ident.status),
        raw_status=ident.status,
        created_at=ident.created_at or EPOCH,  # required for OpenAI jobs: never EPOCH
        phase=PHASES.get(ident.status.strip().lower(), Phase.OTHER),
        traits=TRAITS,
        finished_at=unix_time(obj.get("finished_at")),
        model=opt_str(obj, "model"),
        output_name=opt_str(obj, "fine_tuned_model"),
        training_file=opt_str(obj, "training_file"),
        suffix=model_suffix(opt_str(obj, "fine_tuned_model"))
        or opt_str(obj, "user_provided_suffix"),
        n_epochs=_n_epochs(obj),
        estimated_finish=estimated_finish(obj.get("estimated_finish")),
        trained_tokens=opt_int(obj, "trained_tokens"),
        error=parse_error(obj.get("error")),
        wandb_project=wandb_project(obj.get("integrations")),
        metadata=string_map(obj.get("metadata")),
        novelties=word_novelty(STATUS, ident.status, "status") + mistyped(obj, TYPED_FIELDS),
    )


def model_suffix(fine_tuned_model: str | None) -> str | None:
    """The suffix named in `ft:<base>:<org>:<suffix>:<id>`; None when it is empty."""
    parts = (fine_tuned_model or "").split(":")
    if parts[0] != "ft" or len(parts) < 5:
        return None
    return parts[-2] or None


def wandb_project(integrations: object) -> str | None:
    """The project of the job's first `wandb` integration, if it has one."""
    if not isinstance(integrations, list):
        return None
    for item in integrations:
        if isinstance(item, Mapping) and item.get("type") == "wandb":
            detail = item.get("wandb")
            if isinstance(detail, Mapping) and (project := opt_str(detail, "project")):
                return project
    return None


def string_map(raw: object) -> dict[str, str]:
    """`metadata`: string keys to string values; anything else in it is left out."""
    if not isinstance(raw, Mapping):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}


def parse_job_page(raw: object, provider: str) -> tuple[list[JobSnapshot], bool]:
    """One page of `GET /fine_tuning/jobs` as sent (newest first) and its `has_more`.

    One bad job fails the whole page (see the module docstring).
    """
    where = Where(provider)
    items = envelope_items(raw, where)
    jobs = [parse_job(item, provider, where.at(f"data[{i}].")) for i, item in enumerate(items)]
    return jobs, has_more(raw)


def list_reader(
    provider: str,
    *,
    created_after: datetime | None = None,
    keep: Keep | None = None,
    memo: ListMemo | None = None,
) -> JobListReader:
    """`GET /fine_tuning/jobs` read as each page arrives."""
    return JobListReader(
        provider,
        lambda raw, where: parse_job(raw, provider, where),
        lambda raw: parse_job_page(raw, provider),
        created_after=created_after,
        keep=keep,
        memo=memo,
    )


def parse_checkpoint_page(
    raw: object, provider: str, job_id: str
) -> tuple[list[Checkpoint], str | None]:
    """One page of `GET …/checkpoints` and the cursor for the next page (None: last page)."""
    where = Where(provider, job_id)
    result, last_id = [], None
    for i, item in enumerate(envelope_items(raw, where)):
        obj = as_object(item, where, f"data[{i}]")
        last_id = opt_str(obj, "id")
        name = opt_str(obj, "fine_tuned_model_checkpoint") or last_id or f"{job_id}:checkpoint"
        created_at = unix_time(obj.get("created_at"))
        result.append(
            Checkpoint(step=opt_int(obj, "step_number"), created_at=created_at, name=name)
        )
    return result, (last_id if has_more(raw) else None)


# --- the client ----------------------------------------------------------------------------


class _Cursor:
    """`after` values for one paged read; refuses to loop or to read without end."""

    def __init__(self, provider: str, job_id: str | None) -> None:
        self._provider, self._job_id = provider, job_id
        self._seen: set[str] = set()

    def params(self, after: str | None) -> dict[str, str | int]:
        if after is not None:
            if after in self._seen or len(self._seen) >= MAX_PAGES:
                detail = f"has_more never ends (after={after}, {len(self._seen)} pages)"
                raise ProviderSchemaError(self._provider, "has_more", self._job_id, detail)
            self._seen.add(after)
        return {"limit": PAGE_SIZE} if after is None else {"limit": PAGE_SIZE, "after": after}


class OpenAIClient:
    """`ProviderClient` for OpenAI: pages only as far as needed, never a retry."""

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
        """Newest first; follows `after` only while the last job is newer than the bound."""
        cursor, after = _Cursor(self.name, None), None
        reader = list_reader(self.name, created_after=created_after, keep=keep, memo=self._memo)
        while True:
            reader.begin()
            await self._http.read(JOBS, reader.feed, params=cursor.params(after))
            page = reader.end()
            last = page.last_created
            if not (page.has_more and last and (created_after is None or last > created_after)):
                return reader.jobs()
            after = page.last_id

    async def retrieve(self, job_id: str) -> JobSnapshot:
        raw = await self._http.get_json(job_path(JOBS, job_id), job_id=job_id)
        return parse_job(raw, self.name, Where(self.name, job_id))

    async def events(self, job_id: str, *, after_key: str | None) -> list[JobEvent]:
        """Events newer than `after_key` (all when None), oldest first.

        Pages newest first and stops at the page that holds `after_key`.
        """
        path, cursor = job_path(JOBS, job_id, "events"), _Cursor(self.name, job_id)
        collected: list[JobEvent] = []
        after: str | None = None
        while True:
            raw = await self._http.get_json(path, params=cursor.params(after), job_id=job_id)
            page, more = parse_event_page(raw, self.name, job_id, until=after_key)
            collected += page
            if not (more and page):
                return oldest_first(collected)
            after = page[-1].key  # the event id: OpenAI events always carry one

    async def checkpoints(self, job_id: str) -> list[Checkpoint]:
        """Every checkpoint (a handful per job), by step ascending."""
        path, cursor = job_path(JOBS, job_id, "checkpoints"), _Cursor(self.name, job_id)
        result: list[Checkpoint] = []
        after: str | None = None
        while True:
            raw = await self._http.get_json(path, params=cursor.params(after), job_id=job_id)
            page, after = parse_checkpoint_page(raw, self.name, job_id)
            result.extend(page)
            if after is None:
                return sorted(result, key=lambda c: (c.step is None, c.step or 0))

    async def losses(self, job_id: str, *, after_step: int | None) -> list[LossPoint]:
        """None: OpenAI's losses come with the log, as `metrics` events."""
        return []

    async def aclose(self) -> None:
        await self._http.aclose()
