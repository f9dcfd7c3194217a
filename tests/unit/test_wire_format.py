"""The protobuf bytes stored in Redis, pinned byte for byte (DESIGN §5, Go asynq v0.26).

The expected bytes are written out by hand from the proto3 wire format, not produced by the
encoder, so a wrong field number, a wrong type (e.g. sint64 for int64, fixed32 for int32) or a
renamed field breaks these tests. Reminders of the encoding:

- a field starts with a tag, the varint ``(field_number << 3) | wire_type``;
  wire type 0 = varint (int32, int64, bool), 2 = length-delimited (string, bytes, messages);
- a varint is little-endian base 128, high bit set on every byte but the last;
- a ``map<K, V>`` is a repeated field of entry messages with key = 1 and value = 2;
- ``google.protobuf.Timestamp`` is a message with seconds = 1 (int64) and nanos = 2 (int32);
- proto3 leaves out fields holding their default (0, "", false), including a Timestamp's nanos;
- the Python encoder writes fields in field-number order, as Go's does.

Varints used below (1700000000 = 0x6553F100):
    1800       -> 88 0e                 3600       -> 90 1c
    1700000000 -> 80 e2 cf aa 06        1699999000 -> 98 da cf aa 06
    1700000100 -> e4 e2 cf aa 06        1700000600 -> d8 e6 cf aa 06
    500000000  -> 80 ca b5 ee 01
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asynq.brokers.base import ServerState, TaskMessage, WorkerState
from asynq.brokers.redis import codec

TASK = TaskMessage(
    type="t",
    payload=b"\x01\x02",
    id="i",
    queue="q",
    retry=5,
    retried=2,
    error_msg="é",
    timeout=1800,
    deadline=1_700_000_000,
    unique_key="u",
    last_failed_at=1_699_999_000,
    retention=3600,
    completed_at=1_700_000_100,
    group_key="g",
    headers={"k": "v"},
)
TASK_BYTES = bytes.fromhex(
    "0a 01 74"              # 1 type: tag (1<<3)|2, len 1, "t"
    "12 02 01 02"           # 2 payload: tag (2<<3)|2, len 2, 01 02
    "1a 01 69"              # 3 id: "i"
    "22 01 71"              # 4 queue: "q"
    "28 05"                 # 5 retry: tag (5<<3)|0, varint 5
    "30 02"                 # 6 retried: 2
    "3a 02 c3 a9"           # 7 error_msg: "é" is UTF-8 c3 a9
    "40 88 0e"              # 8 timeout: 1800
    "48 80 e2 cf aa 06"     # 9 deadline: 1700000000
    "52 01 75"              # 10 unique_key: tag (10<<3)|2 = 0x52, "u"
    "58 98 da cf aa 06"     # 11 last_failed_at: 1699999000
    "60 90 1c"              # 12 retention: 3600
    "68 e4 e2 cf aa 06"     # 13 completed_at: 1700000100
    "72 01 67"              # 14 group_key: "g"
    "7a 06 0a 01 6b 12 01 76"  # 15 headers: one entry of 6 bytes, key(1)="k", value(2)="v"
)

SERVER = ServerState(
    host="h",
    pid=42,
    server_id="s",
    concurrency=10,
    queues={"q": 3},
    strict_priority=True,
    status="active",
    started_at=1_700_000_000.5,
    active_worker_count=3,
)
SERVER_BYTES = bytes.fromhex(
    "0a 01 68"              # 1 host: "h"
    "10 2a"                 # 2 pid: 42
    "1a 01 73"              # 3 server_id: "s"
    "20 0a"                 # 4 concurrency: 10
    "2a 05 0a 01 71 10 03"  # 5 queues: one entry of 5 bytes, key(1)="q", value(2, varint)=3
    "30 01"                 # 6 strict_priority: true
    "3a 06 616374697665"    # 7 status: "active"
    "42 0c"                 # 8 start_time: a Timestamp of 12 bytes
    "   08 80 e2 cf aa 06"  #   seconds(1): 1700000000
    "   10 80 ca b5 ee 01"  #   nanos(2): 500000000
    "48 03"                 # 9 active_worker_count: 3
)

WORKER = WorkerState(
    host="h",
    pid=42,
    server_id="s",
    task_id="i",
    task_type="t",
    task_payload=b"{}",
    queue="q",
    started_at=1_700_000_000.5,
    deadline=1_700_000_600.0,
)
WORKER_BYTES = bytes.fromhex(
    "0a 01 68"              # 1 host: "h"
    "10 2a"                 # 2 pid: 42
    "1a 01 73"              # 3 server_id: "s"
    "22 01 69"              # 4 task_id: "i"
    "2a 01 74"              # 5 task_type: "t"
    "32 02 7b 7d"           # 6 task_payload: b"{}"
    "3a 01 71"              # 7 queue: "q"
    "42 0c"                 # 8 start_time: a Timestamp of 12 bytes
    "   08 80 e2 cf aa 06"  #   seconds: 1700000000
    "   10 80 ca b5 ee 01"  #   nanos: 500000000
    "4a 06"                 # 9 deadline: a Timestamp of 6 bytes
    "   08 d8 e6 cf aa 06"  #   seconds: 1700000600 (nanos 0: left out)
)


@pytest.mark.parametrize(
    ("value", "encode", "expected"),
    [
        pytest.param(TASK, codec.encode_task, TASK_BYTES, id="TaskMessage"),
        pytest.param(SERVER, codec.encode_server, SERVER_BYTES, id="ServerInfo"),
        pytest.param(WORKER, codec.encode_worker, WORKER_BYTES, id="WorkerInfo"),
    ],
)
def test_encoding_is_pinned(value: object, encode: object, expected: bytes) -> None:
    assert encode(value).hex(" ") == expected.hex(" ")  # type: ignore[operator]


@pytest.mark.parametrize(
    ("data", "decode", "expected"),
    [
        pytest.param(TASK_BYTES, codec.decode_task, TASK, id="TaskMessage"),
        pytest.param(SERVER_BYTES, codec.decode_server, SERVER, id="ServerInfo"),
        pytest.param(WORKER_BYTES, codec.decode_worker, WORKER, id="WorkerInfo"),
    ],
)
def test_decoding_the_pinned_bytes(data: bytes, decode: object, expected: object) -> None:
    assert decode(data) == expected  # type: ignore[operator]


def test_defaults_are_left_out() -> None:
    """Only the set fields are written: a minimal task is its type and id."""
    msg = TaskMessage(type="t", payload=b"", id="i", queue="", retry=0)
    assert codec.encode_task(msg) == bytes.fromhex("0a 01 74  1a 01 69")


def test_large_and_negative_values() -> None:
    """int32/int64 negatives are 10-byte two's complement varints (not zigzag sint)."""
    msg = TaskMessage(type="t", payload=b"", id="i", queue="", retry=0, retried=-1, timeout=2**40)
    assert codec.encode_task(msg) == bytes.fromhex(
        "0a 01 74  1a 01 69"
        "30 ff ff ff ff ff ff ff ff ff 01"  # 6 retried: -1
        "40 80 80 80 80 80 20"  # 8 timeout: 2**40 = 1 << (7 * 5 + 5)
    )
    assert codec.decode_task(codec.encode_task(msg)) == msg


def test_unknown_fields_are_ignored() -> None:
    """A newer Go asynq may add fields; a field 16 (varint) must not break decoding."""
    assert codec.decode_task(TASK_BYTES + bytes.fromhex("80 01 07")) == TASK


def test_several_map_entries_round_trip() -> None:
    msg = TaskMessage(type="t", payload=b"", id="i", queue="q", headers={"a": "1", "b": "", "ü": "ß"})
    assert codec.decode_task(codec.encode_task(msg)) == msg
    server = ServerState("h", 1, "s", 4, {"critical": 6, "default": 3, "low": 1}, False, "idle", 1.0)
    assert codec.decode_server(codec.encode_server(server)) == server


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)  # proto strings are UTF-8
_int32 = st.integers(-(2**31), 2**31 - 1)
_int64 = st.integers(-(2**63), 2**63 - 1)


@given(
    st.builds(
        TaskMessage,
        type=_text.filter(bool),
        payload=st.binary(max_size=50),
        id=_text.filter(bool),
        queue=_text,
        retry=_int32,
        retried=_int32,
        error_msg=_text,
        timeout=_int64,
        deadline=_int64,
        unique_key=_text,
        last_failed_at=_int64,
        retention=_int64,
        completed_at=_int64,
        group_key=_text,
        headers=st.dictionaries(_text, _text, max_size=4),
    )
)
def test_task_round_trip(msg: TaskMessage) -> None:
    assert codec.decode_task(codec.encode_task(msg)) == msg


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xff", id="truncated-tag"),
        pytest.param(b"hello world", id="not-protobuf"),
        pytest.param(b"\x0a\x05ab", id="length-past-end"),
        pytest.param(TASK_BYTES[:-1], id="truncated-message"),
        pytest.param(b"\x0a\x02\xff\xfe\x1a\x01i", id="bad-utf8-string"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\x1a\x01i", id="no-type"),
        pytest.param(b"\x0a\x01t", id="no-id"),
    ],
)
def test_corrupt_task_bytes(data: bytes) -> None:
    with pytest.raises(codec.CorruptMessageError):
        codec.decode_task(data)


def test_corrupt_message_error_is_a_value_error() -> None:
    assert issubclass(codec.CorruptMessageError, ValueError)
