"""A list read against the last one (`_repeats`) parses no entry left exactly as it was
(one handed back is judged again as parsed then, one dropped on a basis still held is
skipped), and hands back exactly what a fresh read does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.model import JobSnapshot
from monitor.providers import openai
from monitor.providers._list_reader import JobListReader
from monitor.providers._repeats import ListMemo
from monitor.providers.together import list_reader

CHUNK = 4096


@dataclass
class Settle:
    """core's Keeper in miniature: a job `settled` names is dropped while its status and
    `updated_at` are as recorded; the verdict rests on the snapshot and that record."""

    settled: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __call__(self, snapshot: JobSnapshot) -> bool:
        record = self.basis(snapshot.id)
        return record is None or record != (snapshot.raw_status, str(snapshot.updated_at))

    def basis(self, job_id: str) -> tuple[str, str] | None:
        return self.settled.get(job_id)


def job(n: int, status: str = "completed", minute: int = 0) -> dict[str, Any]:
    return {
        "id": f"ft-{n}",
        "status": status,
        "created_at": "2026-03-16T09:00:00Z",
        "updated_at": f"2026-03-16T10:{minute:02d}:00Z",
        "model": "m",
    }


def read(jobs: list[dict[str, Any]], keep: Settle, memo: ListMemo | None) -> JobListReader:
    reader = list_reader("tg", keep=keep, memo=memo)
    body = json.dumps({"object": "list", "data": jobs}).encode()
    for start in range(0, len(body), CHUNK):
        reader.feed(body[start : start + CHUNK])
    reader.end()
    return reader


def settle_all(jobs: list[dict[str, Any]]) -> Settle:
    """Records every job as it is now."""
    return Settle({j["id"]: record(j) for j in jobs})


def record(j: dict[str, Any]) -> tuple[str, str]:
    return j["status"], str(datetime.fromisoformat(j["updated_at"]))


def test_a_list_left_as_it_was_is_skipped_and_reads_the_same() -> None:
    jobs = [job(n) for n in range(50)] + [job(50, "running")]
    keep, memo = settle_all(jobs[:50]), ListMemo()
    first = read(jobs, keep, memo)
    assert [j.id for j in first.jobs()] == ["ft-50"]
    again = read(jobs, keep, memo)
    assert [j.id for j in again.jobs()] == ["ft-50"]
    assert again.skipped == 51  # the running job too: handed back as parsed last time


def test_the_memo_holds_no_finished_job_whatever_keep_hands_back() -> None:
    """A keep rule that hands back every job (a watch filter reads whole states) leaves the
    finished ones to be parsed again: the memo holds only the work in flight."""
    jobs = [job(n) for n in range(10)] + [job(10, "running"), job(11, "queued")]
    memo = ListMemo()
    read(jobs, Settle(), memo).jobs()
    assert sum(entry.job is not None for entry in memo.entries) == 2
    again = read(jobs, Settle(), memo)
    assert len(again.jobs()) == 12 and again.skipped == 2


def test_what_moved_is_parsed_wherever_the_list_grew_or_shrank() -> None:
    jobs = [job(n) for n in range(20)]
    keep, memo = settle_all(jobs), ListMemo()
    read(jobs, keep, memo).jobs()
    moved = [job(99, "running"), *jobs[:5], job(5, minute=7), *jobs[6:12], *jobs[13:]]
    again = read(moved, keep, memo)
    assert [j.id for j in again.jobs()] == ["ft-99", "ft-5"]
    # all but the new job, the one that moved, and the one after the job gone (ft-13,
    # parsed to find where the old list goes on)
    assert again.skipped == 17


def test_a_basis_that_changed_is_read_again() -> None:
    """The same entry, but ftmon's record of the job changed (say a narrow poll wrote it):
    it is parsed and judged afresh."""
    jobs = [job(n) for n in range(3)]
    keep, memo = settle_all(jobs), ListMemo()
    read(jobs, keep, memo).jobs()
    keep.settled["ft-1"] = ("completed", "an older time")
    again = read(jobs, keep, memo)
    assert [j.id for j in again.jobs()] == ["ft-1"]
    assert again.skipped == 2


statuses = st.sampled_from(["completed", "running", "cancelled"])
lists = st.lists(st.tuples(st.integers(0, 30), statuses, st.integers(0, 3)), max_size=25)


@given(st.lists(st.tuples(lists, st.sets(st.integers(0, 30))), min_size=1, max_size=4))
def test_a_memo_never_changes_what_a_list_hands_back(
    polls: list[tuple[list[tuple[int, str, int]], set[int]]],
) -> None:
    """Over any run of lists and records (each poll records some of the jobs it lists, as
    they are then), reading with the memo gives what a fresh read gives: the jobs, in
    order, and nothing skipped that a read would have kept."""
    memo, keep = ListMemo(), Settle()
    for entries, recorded in polls:
        jobs = list({n: job(n, status, minute) for n, status, minute in entries}.values())
        fresh = read(jobs, keep, None).jobs()
        assert read(jobs, keep, memo).jobs() == fresh
        keep.settled |= settle_all([j for j in jobs if int(j["id"][3:]) in recorded]).settled


def oa_job(n: int, status: str = "succeeded") -> dict[str, Any]:
    return {"id": f"ftjob-{n}", "status": status, "created_at": 1_773_000_000 - n, "model": "m"}


def read_pages(pages: list[list[dict[str, Any]]], keep: Settle, memo: ListMemo) -> list[Any]:
    """OpenAI's pages, newest first, each with its `has_more`; the cursor of each."""
    reader, cursors = openai.list_reader("oa", keep=keep, memo=memo), []
    for n, jobs in enumerate(pages):
        reader.begin()
        reader.feed(
            json.dumps({"object": "list", "data": jobs, "has_more": n < len(pages) - 1}).encode()
        )
        page = reader.end()
        cursors.append((page.has_more, page.last_id, page.last_created))
    return [cursors, [j.id for j in reader.jobs()], reader.skipped]


def test_openai_pages_follow_their_cursor_through_skipped_entries() -> None:
    """A page whose last entry is skipped unread still names it as the next cursor."""
    pages = [[oa_job(1, "running"), oa_job(2)], [oa_job(3), oa_job(4)], [oa_job(5)]]
    keep, memo = Settle(), ListMemo()
    for n in (2, 3, 4, 5):  # settled; OpenAI's jobs have no updated_at
        keep.settled[f"ftjob-{n}"] = ("succeeded", "None")
    first = read_pages(pages, keep, memo)
    again = read_pages(pages, keep, memo)
    assert again[:2] == first[:2]
    assert first[0][1][1] == "ftjob-4" and first[1] == ["ftjob-1"]
    assert (first[2], again[2]) == (0, 5)
