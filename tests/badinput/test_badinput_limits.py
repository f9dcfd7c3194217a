"""Oversized payloads are refused at enqueue with the size and the limit; nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asynq
from asynq.client import DEFAULT_MAX_PAYLOAD_SIZE
from asynq.errors import PayloadError, PayloadTooLargeError

KIB = 1024


def _stored_count(broker: asynq.MemoryBroker) -> int:
    return len(broker._client.keys("asynq:{*}:t:*"))


def test_default_limit_is_512_kib() -> None:
    assert DEFAULT_MAX_PAYLOAD_SIZE == 512 * KIB
    broker = asynq.MemoryBroker()
    client = asynq.Client(broker)
    client.enqueue(asynq.Task("fits", b"x" * (512 * KIB)))
    with pytest.raises(PayloadTooLargeError) as caught:
        client.enqueue(asynq.Task("big:report", b"x" * (512 * KIB + 1)))
    message = str(caught.value)
    assert "'big:report'" in message
    assert "524,289 bytes" in message and "limit of 524,288 bytes" in message
    assert "max_payload_size" in message
    assert (caught.value.size, caught.value.limit, caught.value.task_type) == (512 * KIB + 1, 512 * KIB, "big:report")
    assert isinstance(caught.value, PayloadError) and isinstance(caught.value, ValueError)
    assert _stored_count(broker) == 1


def test_json_and_pickled_payloads_count_their_encoded_size() -> None:
    client = asynq.Client(asynq.MemoryBroker(), max_payload_size=100, signing_key=b"k" * 32)
    client.enqueue(asynq.Task("json", {"s": "x" * 90}))  # 98 bytes of JSON
    with pytest.raises(PayloadTooLargeError, match="is 104 bytes, over the limit of 100 bytes"):
        client.enqueue(asynq.Task("json", {"s": "é" * 48}))  # 48 two-byte characters: UTF-8 counts
    with pytest.raises(PayloadTooLargeError, match=r"'pickled' is \d+ bytes, over the limit of 100"):
        client.enqueue(asynq.Task("pickled", list(range(100)), codec="pickle"))


def test_enqueue_many_with_one_oversized_task_stores_none() -> None:
    broker = asynq.MemoryBroker()
    client = asynq.Client(broker, max_payload_size=10)
    with pytest.raises(PayloadTooLargeError):
        client.enqueue_many([asynq.Task("ok", b"small"), asynq.Task("big", b"x" * 11), asynq.Task("ok", b"s")])
    assert _stored_count(broker) == 0


def test_no_limit() -> None:
    client = asynq.Client(asynq.MemoryBroker(), max_payload_size=None)
    client.enqueue(asynq.Task("big", b"x" * (2 * 1024 * KIB)))


@pytest.mark.parametrize(
    ("limit", "error", "match"),
    [
        (0, ValueError, "max_payload_size must be positive"),
        (-1, ValueError, "max_payload_size must not be negative"),
        (2**40, ValueError, "max_payload_size must be at most"),
        (1.5, TypeError, "max_payload_size must be an int"),
        ("1000", TypeError, "max_payload_size must be an int"),
        (True, TypeError, "max_payload_size must be an int"),
    ],
)
def test_bad_limits_are_refused(limit: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        asynq.Client(asynq.MemoryBroker(), max_payload_size=limit)


@settings(max_examples=60, deadline=None)
@given(limit=st.integers(1, 300), size=st.integers(0, 600))
def test_a_payload_is_refused_exactly_when_over_the_limit(limit: int, size: int) -> None:
    client = asynq.Client(asynq.MemoryBroker(), max_payload_size=limit)
    task = asynq.Task("t", b"x" * size)
    if size > limit:
        with pytest.raises(PayloadTooLargeError, match=f"is {size:,} bytes, over the limit of {limit:,} bytes"):
            client.enqueue(task)
    else:
        assert client.enqueue(task).payload.raw == task.payload.raw
