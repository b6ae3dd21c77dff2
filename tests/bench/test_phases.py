"""The heavy benchmark's phase summary gives each sampled stack to the phase a reader
of BENCHMARKS.md would: parsing inside an HTTP read is parsing, encoding inside a commit
is commit, anything inside an import is start-up."""

from __future__ import annotations

from bench.phases import IDLE, IMPORTS, OTHER, Profile, phase_of

LOOP = "run (asyncio/runners.py:118);PollService.poll (/x/monitor/app/poll.py:90)"
READ = "ProviderHttp.read (/x/monitor/providers/http_client.py:190)"


def stack(*frames: str) -> list[str]:
    return ";".join([LOOP, *frames]).split(";")


def test_the_innermost_named_frame_decides() -> None:
    request = "AsyncHTTP11Connection._receive_event (/v/httpcore/_async/http11.py:200)"
    assert phase_of(stack(READ, request)) == "HTTP"
    parse = "JobListReader.feed (/x/monitor/providers/_list_reader.py:80)"
    assert phase_of(stack(READ, "KeyMask.feed (/x/monitor/providers/_mask.py:47)", parse)) == (
        "parsing"
    )
    assert phase_of(stack("parse_job (/x/monitor/providers/together.py:100)")) == "parsing"
    assert phase_of(stack("diff (/x/monitor/core/diff.py:40)")) == "diff"
    assert phase_of(stack("helper (/v/somelib/x.py:1)")) == OTHER
    socket = (
        "_SelectorSocketTransport._read_ready (/usr/lib/python3.11/asyncio/selector_events.py:9)"
    )
    assert phase_of(stack(socket)) == "HTTP"
    assert phase_of(stack("Handle._run (/usr/lib/python3.11/asyncio/events.py:84)")) == "event loop"


def test_a_commit_or_a_load_owns_what_it_calls() -> None:
    encode = "JobState.to_json (/x/monitor/core/memory.py:211)"
    assert phase_of(stack("SqliteStore.commit_poll (/x/monitor/storage/sqlite.py:80)", encode)) == (
        "commit"
    )
    decode = "JobState.from_json (/x/monitor/core/memory.py:215)"
    assert phase_of(stack("read_open (/x/monitor/storage/jobs.py:74)", decode)) == "state load"


def test_imports_and_waits() -> None:
    module = "<module> (/x/monitor/core/model.py:10)"
    imported = stack("_find_and_load (<frozen importlib._bootstrap>:1176)", module)
    assert phase_of(imported) == IMPORTS
    waiting = stack("EpollSelector.select (/usr/lib/python3.11/selectors.py:468)")
    assert phase_of(waiting) == IDLE


def test_shares_leave_idle_out() -> None:
    lines = [
        ";".join(stack(READ)) + " 30",
        ";".join(stack("diff (/x/monitor/core/diff.py:40)")) + " 10",
        ";".join(stack("EpollSelector.select (/usr/lib/python3.11/selectors.py:468)")) + " 60",
    ]
    profile = Profile.parse(lines, cycles=1)
    assert profile.share("HTTP") == 0.75
    assert profile.per_cycle() == 40 / 200
