"""Skipping the entries of a big list that are exactly as the last list had them (pure).

Together's job list is the whole account on every poll, and most of it is finished jobs
the provider left alone: decoding and parsing each of them was most of a list's cost. A
`ListMemo` remembers each entry of the last list: the length and hash of its text, its
job id, the job itself when the list handed it back unfinished (so the memo holds no
more than the work in flight, whatever a watch filter keeps), and else the basis of the
verdict that dropped it (`Keep.basis`). Reading the next list, the entry expected next (the one
after the last entry recognised, so a list that grew or shrank is followed) is compared
by its text alone. Parsing is deterministic, so an identical entry is the same job: one
handed back before is handed to `keep` again as it was parsed then, and one dropped
before whose basis has not changed would be dropped again, so it is skipped outright.
Every other entry is decoded and parsed as usual.

Identical text is judged by Python's string hash (SipHash, keyed afresh in each process)
of a slice of the remembered length: an entry that changed yet kept its length and hash
is a chance of one in 2^64, and not one a provider can steer.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from monitor.core.model import JobSnapshot
from monitor.providers.base import Keep


@dataclass(frozen=True, slots=True)
class Entry:
    length: int  # characters of the entry's text
    digest: int  # hash() of that text
    job_id: str
    created_at: datetime  # a page's last job is the next page's cursor
    basis: Hashable | None  # what dropped it (`Keep.basis`); None: not droppable unread
    job: JobSnapshot | None  # the job as parsed, when the list handed it back unfinished


class ListMemo:
    """The entries of the last list read whole; the client keeps it across polls."""

    def __init__(self) -> None:
        self.entries: tuple[Entry, ...] = ()
        self.where: dict[str, int] = {}  # job id -> its entry's position

    def remember(self, entries: list[Entry]) -> None:
        self.entries = tuple(entries)
        self.where = {entry.job_id: n for n, entry in enumerate(entries)}


class Repeats:
    """One list read against the memo (the list reader asks it for `_stream.ItemStream`);
    `entries` is this list's, for the memo once the list is read."""

    def __init__(self, memo: ListMemo, keep: Keep) -> None:
        self._memo, self._keep = memo, keep
        self._next = 0  # the memo's entry expected next
        self.entries: list[Entry] = []
        self.skipped = 0

    def expect(self) -> tuple[int, int] | None:
        """(length, hash) of the text the next entry may repeat, when an entry identical
        to it need not be parsed: the memo's next one holds its job, or was dropped on the
        basis still held."""
        if self._next >= len(self._memo.entries):
            return None
        entry = self._memo.entries[self._next]
        if entry.job is None and (
            entry.basis is None or self._keep.basis(entry.job_id) != entry.basis
        ):
            return None
        return entry.length, entry.digest

    def repeated(self) -> Entry:
        """The next entry was the expected text again: not parsed. The caller judges
        its job again (`note`), or, when the entry was dropped, nothing has changed."""
        entry = self._memo.entries[self._next]
        self._next += 1
        self.skipped += 1
        if entry.job is None:
            self.entries.append(entry)
        return entry

    def note(
        self, job: JobSnapshot, length: int, digest: int, *, kept: bool, dropped: bool
    ) -> None:
        """A job judged (`kept`, or `dropped` by `keep` rather than by age) from an entry
        of `length` characters hashing to `digest`."""
        basis = self._keep.basis(job.id) if dropped else None
        held = job if kept and not job.status.terminal else None  # bounded by the work in flight
        entry = Entry(length, digest, job.id, job.created_at, basis, held)
        self.entries.append(entry)
        before = self._memo.where.get(job.id)
        if before is not None:
            self._next = before + 1
