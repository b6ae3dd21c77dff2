"""What every provider module offers: the `ProviderClient` Protocol.

A provider module (together.py, openai.py) parses its own wire shapes tolerantly into
the normalized model and exposes this Protocol; adding Fireworks or Azure OpenAI later is
one new module in the same shape. Its HTTP goes through `http_client.ProviderHttp`, the
one boundary where foreign failures become `monitor.core.errors` (the table is in
`http_errors`); every method therefore raises only `ProviderError`s.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Protocol

from monitor.core.model import Checkpoint, JobEvent, JobSnapshot, LossPoint, ProviderTraits


class Keep(Protocol):
    """Which listed jobs a list hands back (`core.poll_plan.Keeper`)."""

    def __call__(self, snapshot: JobSnapshot) -> bool: ...

    def basis(self, job_id: str) -> Hashable | None:
        """What the verdict on the job rests on besides its snapshot; None: it is kept.
        A job listed exactly as before, with the same basis, gets the same verdict."""
        ...


class ProviderClient(Protocol):
    """Reads one provider account. Every method raises only `monitor.core.errors.ProviderError`s."""

    name: str
    kind: str
    traits: ProviderTraits  # declared once in the provider's module

    async def list_jobs(
        self, *, created_after: datetime | None, keep: Keep | None = None
    ) -> list[JobSnapshot]:
        """Jobs created after `created_after` (all when None), as few requests as the API allows.

        Together: one request, no pagination. OpenAI: newest first, `limit=100`, following
        `after` only while the page still reaches back past `created_after`. `keep`: which
        jobs to hand back; the others are dropped as soon as they are parsed, so a long
        list is never held whole.
        """
        ...

    async def retrieve(self, job_id: str) -> JobSnapshot:
        """One job in full (Together's includes its event log in `events`)."""
        ...

    async def events(self, job_id: str, *, after_key: str | None) -> list[JobEvent]:
        """New events, oldest first.

        OpenAI reads newest first and stops at `after_key` (exclusive); Together has no
        cursor and returns its whole log, which the caller filters by seen keys.
        """
        ...

    async def checkpoints(self, job_id: str) -> list[Checkpoint]: ...

    async def losses(self, job_id: str, *, after_step: int | None) -> list[LossPoint]:
        """Training-loss readings past `after_step`, from a metrics endpoint.

        Together: its `/metrics` train rows from `after_step + 1`. OpenAI: none, without a
        request (its losses arrive as `metrics` events in the log).
        """
        ...

    async def aclose(self) -> None: ...
