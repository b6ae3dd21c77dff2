"""A provider's job list read as it arrives, page by page, one job at a time.

Both providers list jobs in `{"data": [...]}` envelopes: Together the whole account in
one body, OpenAI a hundred jobs a page. `JobListReader` walks each body as its bytes
arrive (`_stream.ItemStream`), parses each job with the provider's own parser, and keeps
those created after `created_after` that `keep` takes, so neither a body nor every job of
a long list is ever held whole. Entries exactly as the last list had them, dropped on a
basis still held, are skipped unread (`_repeats`).

A page that is not the plain envelope is decoded whole at its end and parsed by the
provider's whole-page parser, so its error reads as for any answer (and the memo is not
used for that list); one that breaks off after its
first job is that poll's schema error: a partial list must never look like jobs vanished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from monitor.core.errors import ProviderSchemaError
from monitor.core.model import JobSnapshot
from monitor.providers._fields import Where
from monitor.providers._repeats import ListMemo, Repeats
from monitor.providers._stream import ItemStream, NotPlain
from monitor.providers.base import Keep
from monitor.providers.http_errors import decode_json

ParseJob = Callable[[object, Where], JobSnapshot]  # one listed job
ParsePage = Callable[[object], tuple[list[JobSnapshot], bool]]  # a whole page, its has_more


@dataclass(frozen=True, slots=True)
class Page:
    """How one page ended: whether more follow, and its last job (for the cursor)."""

    has_more: bool
    last_id: str | None
    last_created: datetime | None


class JobListReader:
    """`begin` a page, `feed` it its body's bytes, `end` it; `jobs` once the list is read."""

    def __init__(
        self,
        provider: str,
        parse: ParseJob,
        parse_page: ParsePage,
        *,
        created_after: datetime | None = None,
        keep: Keep | None = None,
        memo: ListMemo | None = None,
    ) -> None:
        self.provider, self._parse, self._parse_page = provider, parse, parse_page
        self._created_after, self._keep = created_after, keep
        self._where = Where(provider)
        self._memo = memo
        self._repeats = Repeats(memo, keep) if memo is not None and keep is not None else None
        self._whole = False  # a page was decoded whole: the memo is not kept for this list
        self._jobs: list[JobSnapshot] = []
        self._last: tuple[str, datetime] | None = None  # the page's last job
        self._stream = self._page()

    @property
    def skipped(self) -> int:
        """Entries not parsed: their text was the last list's (`_repeats`)."""
        return self._repeats.skipped if self._repeats else 0

    def begin(self) -> None:
        self._stream, self._last = self._page(), None

    def _page(self) -> ItemStream:
        return ItemStream("data", self._visit, self if self._repeats else None)

    def expect(self) -> tuple[int, int] | None:
        """For `ItemStream`: the text the next entry may repeat (`Repeats.expect`)."""
        return self._repeats.expect() if self._repeats else None

    def repeated(self) -> None:
        """For `ItemStream`: the next entry repeated the text expected; not parsed."""
        if self._repeats:
            entry = self._repeats.repeated()
            self._last = (entry.job_id, entry.created_at)
            if entry.job is not None:
                self._judge(entry.job, entry.length, entry.digest)

    def feed(self, chunk: bytes | bytearray) -> None:
        try:
            self._stream.feed(chunk)
        except NotPlain as exc:
            raise self._broken(exc) from None

    def end(self) -> Page:
        """The page's body has ended."""
        try:
            whole = self._stream.close()
        except NotPlain as exc:
            raise self._broken(exc) from None
        if whole is None:
            more = self._stream.members.get("has_more") is True
        else:
            self._whole = True
            jobs, more = self._parse_page(decode_json(self.provider, whole, None))
            for job in jobs:
                self._take(job)
        last_id, last_created = self._last or (None, None)
        return Page(has_more=more, last_id=last_id, last_created=last_created)

    def jobs(self) -> list[JobSnapshot]:
        """The jobs taken, newest first; the memo now holds this list."""
        if self._memo is not None:
            entries = self._repeats.entries if self._repeats and not self._whole else []
            self._memo.remember(entries)
        return sorted(self._jobs, key=lambda j: j.created_at, reverse=True)

    def _visit(self, index: int, item: object, text: str) -> None:
        job = self._parse(item, self._where.at(f"data[{index}]."))
        if self._repeats is None:
            self._take(job)
        else:
            self._judge(job, len(text), hash(text))

    def _judge(self, job: JobSnapshot, length: int, digest: int) -> None:
        recent, kept = self._take(job)
        if self._repeats is not None:
            self._repeats.note(job, length, digest, kept=kept, dropped=recent and not kept)

    def _take(self, job: JobSnapshot) -> tuple[bool, bool]:
        """Keep the job if it is recent and `keep` takes it: (recent, kept)."""
        self._last = (job.id, job.created_at)
        recent = self._created_after is None or job.created_at > self._created_after
        kept = recent and (self._keep is None or self._keep(job))
        if kept:
            self._jobs.append(job)
        return recent, kept

    def _broken(self, exc: NotPlain) -> ProviderSchemaError:
        detail = f"invalid JSON after {self._stream.items} jobs ({exc})"
        return ProviderSchemaError(self.provider, "<body>", None, detail)
