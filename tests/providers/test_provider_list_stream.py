"""Reading a big list one item at a time gives what decoding it whole gives, or gives up."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from provider_testkit import load_fixture

from monitor.core.errors import ProviderSchemaError
from monitor.providers._stream import WINDOW, NotPlain, each_item
from monitor.providers.together import parse_job_list, parse_job_list_body

WINDOWS = (1, 2, 3, 7, 64, WINDOW)  # bytes decoded at a time: every cut, and the usual


def items(body: bytes, window: int = WINDOW) -> list[Any]:
    seen: list[Any] = []
    each_item(body, "data", lambda i, item: seen.append((i, item)), window=window)
    assert [i for i, _ in seen] == list(range(len(seen)))
    return [item for _, item in seen]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"data": []}', []),
        (b'{"data":[1,{"a":[2,3]},"x"]}', [1, {"a": [2, 3]}, "x"]),
        (b' \n{ "object" : "list" ,\t"data" : [ {"id": "a"} ] , "more": {"data": [9]} }\n ', [
            {"id": "a"}
        ]),
        (b'{"data": [NaN, Infinity]}', None),  # compared to json.loads below
    ],
)  # fmt: skip
@pytest.mark.parametrize("window", WINDOWS)
def test_each_item_matches_a_whole_decode(
    body: bytes, expected: list[Any] | None, window: int
) -> None:
    got = items(body, window)
    whole = json.loads(body)["data"]
    assert repr(got) == repr(whole)
    if expected is not None:
        assert got == expected


@pytest.mark.parametrize("window", WINDOWS)
def test_text_cut_inside_a_character_a_string_or_a_number(window: int) -> None:
    """Windows end inside multi-byte characters, escapes, strings and numbers alike."""
    data = [{"name": "café 日本 🎉", "n": 123456789, "x": -1.5e-7}, '\\"q\u00e9', 42]
    body = json.dumps({"data": data, "count": 1234567}, ensure_ascii=False).encode()
    assert items(body, window) == data


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"{}",
        b'{"object": "list"}',
        b'{"data": {"a": 1}}',
        b'{"data": [1,]}',
        b'{"data": [1], }',
        b'{"data": [1], "data": [2]}',
        b'{"data": [1]} x',
        b'{"data": [1',
        b'{"data": [1] "x": 2}',
        b"{1: [1]}",
        b"\xff\xfe",
    ],
)
@pytest.mark.parametrize("window", WINDOWS)
def test_anything_unusual_gives_up(body: bytes, window: int) -> None:
    with pytest.raises(NotPlain):
        items(body, window)


@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=5),
            st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
            max_size=4,
        ),
        max_size=6,
    ),
    st.dictionaries(st.sampled_from(["object", "has_more", "x"]), st.integers(), max_size=2),
    st.sampled_from([", ", ",", " ,\n "]),
    st.sampled_from(WINDOWS),
)
def test_each_item_matches_json_loads(
    data: list[dict[str, Any]], extra: dict[str, int], sep: str, window: int
) -> None:
    envelope = {**extra, "data": data}
    body = json.dumps(envelope, separators=(sep, ": "), ensure_ascii=False).encode()
    assert items(body, window) == data


def test_the_together_list_reads_the_same_either_way() -> None:
    """The fixture list through the item-at-a-time path equals the whole-body path."""
    raw = load_fixture("together", "list_jobs.json")
    body = json.dumps(raw).encode()
    assert parse_job_list_body(body, "tg") == parse_job_list(raw, "tg")


@pytest.mark.parametrize(
    ("body", "whole_decodes"),
    [(b'{"data": [{"id": 1}]}', True), (b'{"data": 3}', True), (b"{", False), (b"", False)],
)
def test_a_bad_list_is_the_same_error_either_way(body: bytes, whole_decodes: bool) -> None:
    """Unreadable jobs, a non-list and broken JSON fail exactly as a whole decode does."""
    with pytest.raises(ProviderSchemaError) as streamed:
        parse_job_list_body(body, "tg")
    if whole_decodes:
        with pytest.raises(ProviderSchemaError) as whole:
            parse_job_list(json.loads(body), "tg")
        assert str(streamed.value) == str(whole.value)
    else:
        assert "invalid JSON" in str(streamed.value)
