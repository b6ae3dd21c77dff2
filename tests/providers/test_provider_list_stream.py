"""Reading a big list one item at a time gives what decoding it whole gives, or gives up."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from provider_testkit import load_fixture

from monitor.core.errors import ProviderSchemaError
from monitor.core.model import JobSnapshot
from monitor.core.redact import MASK
from monitor.core.text import REPLACEMENT
from monitor.providers._mask import KeyMask
from monitor.providers._stream import ItemStream, NotPlain
from monitor.providers.http_errors import decode_json
from monitor.providers.together import list_reader, parse_job_list

CHUNK = 65_536  # what a socket read hands over at most
WINDOWS = (1, 2, 3, 7, 64, CHUNK)  # bytes fed at a time: every cut, and the usual


def chunks(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def items(body: bytes, window: int = CHUNK) -> list[Any]:
    """The list's items, fed `window` bytes at a time; NotPlain when the body is not the
    plain envelope (handed back whole by `close`, or broken after an item)."""
    seen: list[Any] = []
    stream = ItemStream("data", lambda i, item, _text: seen.append((i, item)))
    for chunk in chunks(body, window):
        stream.feed(chunk)
    whole = stream.close()
    if whole is not None:
        assert whole == body and not seen  # kept whole, for a whole decode
        raise NotPlain("handed back whole")
    assert [i for i, _ in seen] == list(range(len(seen)))
    return [item for _, item in seen]


def parse_job_list_body(body: bytes, provider: str, window: int = CHUNK) -> list[JobSnapshot]:
    reader = list_reader(provider)
    for chunk in chunks(body, window):
        reader.feed(chunk)
    reader.end()
    return reader.jobs()


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


@pytest.mark.parametrize("window", WINDOWS)
def test_a_lone_surrogate_cut_by_a_chunk_is_replaced_as_by_a_whole_decode(window: int) -> None:
    """Items are what `decode_json` gives, wherever the chunks cut the escape."""
    body = b'{"data": [{"id": "a"}, {"id": "b\\ud800c"}, {"id": "d"}]}'
    assert items(body, window) == decode_json("tg", body, None)["data"]  # type: ignore[index]
    assert items(body, window)[1]["id"] == f"b{REPLACEMENT}c"


@given(
    st.lists(st.sampled_from([b"x", b"KEY", b"KE", b"Y", b"K", b'"', b"KEYKEY"]), max_size=30),
    st.integers(min_value=1, max_value=9),
)
def test_the_key_is_masked_wherever_the_chunks_cut_it(parts: list[bytes], size: int) -> None:
    """`KeyMask` fed any cut of a body gives what masking the whole body gives."""
    body = b"".join(parts)
    out = bytearray()
    masked = KeyMask(b"KEY", out.extend)
    for chunk in chunks(body, size):
        masked.feed(chunk)
    masked.close()
    assert bytes(out) == body.replace(b"KEY", MASK.encode())
