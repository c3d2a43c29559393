"""RecordIO framing: records independent of chunk boundaries, byte (not character) counting, clear errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horae.mesos._recordio import MAX_RECORD, RecordIODecoder, RecordIOError, encode

EVENTS = [
    json.dumps({"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": "f1"}}}).encode(),
    b'{"type":"HEARTBEAT"}',
    json.dumps(
        {"type": "UPDATE", "update": {"status": {"message": "exit 0 — fertig ✓"}}}, ensure_ascii=False
    ).encode(),
]
STREAM = b"".join(encode(e) for e in EVENTS)


def test_encode_counts_bytes_not_characters() -> None:
    assert encode("é".encode()) == b"2\n\xc3\xa9"
    assert encode(b'{"type":"HEARTBEAT"}') == b'20\n{"type":"HEARTBEAT"}'
    with pytest.raises(ValueError):
        encode(b"")


def test_several_records_in_one_chunk() -> None:
    decoder = RecordIODecoder()
    assert decoder.feed(STREAM) == EVENTS
    decoder.close()


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_split_at_every_byte(cut: int) -> None:
    decoder = RecordIODecoder()
    records = decoder.feed(STREAM[:cut]) + decoder.feed(STREAM[cut:])
    assert records == EVENTS
    decoder.close()


def test_one_byte_at_a_time() -> None:
    decoder = RecordIODecoder()
    records = [r for i in range(len(STREAM)) for r in decoder.feed(STREAM[i : i + 1])]
    assert records == EVENTS
    assert decoder.pending == 0


@given(st.lists(st.binary(min_size=1, max_size=50), max_size=8), st.data())
def test_any_records_any_chunking(records: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(encode(r) for r in records)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = RecordIODecoder()
    out: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += decoder.feed(stream[start:end])
    decoder.close()
    assert out == records


@pytest.mark.parametrize("cut", [1, 2, 3, 10, len(encode(EVENTS[0])) - 1])
def test_stream_dropped_mid_record_is_an_error(cut: int) -> None:
    decoder = RecordIODecoder()
    assert decoder.feed(STREAM[:cut]) == []
    with pytest.raises(RecordIOError, match="stream ended inside a record"):
        decoder.close()


def test_stream_dropped_after_a_complete_record_is_not_an_error() -> None:
    decoder = RecordIODecoder()
    first = encode(EVENTS[0])
    assert decoder.feed(first) == [EVENTS[0]]
    decoder.close()


@pytest.mark.parametrize("garbage", [b"x\n{}", b"12a\n", b"-3\n", b" 3\n", b'{"type":', b"\n"])
def test_bad_length_prefix(garbage: bytes) -> None:
    decoder = RecordIODecoder()
    with pytest.raises(RecordIOError):
        decoder.feed(garbage)
    with pytest.raises(RecordIOError):  # stays failed: a corrupt stream is never resynchronised by guessing
        decoder.feed(encode(b"{}"))


def test_zero_length_rejected() -> None:
    with pytest.raises(RecordIOError, match="never empty"):
        RecordIODecoder().feed(b"0\n")


def test_huge_length_rejected_before_buffering() -> None:
    decoder = RecordIODecoder()
    with pytest.raises(RecordIOError, match="exceeds"):
        decoder.feed(b"%d\n" % (MAX_RECORD + 1))
    with pytest.raises(RecordIOError, match="exceeds"):
        RecordIODecoder().feed(b"9" * 40)  # no newline yet: an endless prefix is refused early
    small = RecordIODecoder(max_record=10)
    assert small.feed(encode(b"0123456789")) == [b"0123456789"]
    with pytest.raises(RecordIOError, match="exceeds 10 bytes"):
        small.feed(encode(b"01234567890"))
