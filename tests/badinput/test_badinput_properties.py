"""Property-based tests (hypothesis) of what Client and Task accept and refuse.

Each property runs the real path: Client → MemoryBroker (the Redis broker's Lua scripts on
fakeredis) → dequeue, and decodes what a worker would get. Anything the API accepts must be
stored faithfully; anything it refuses must be refused at the call with ValueError, TypeError
or PayloadError and a message, never a crash deep inside the broker.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import asynq
from asynq.brokers.base import TaskMessage
from asynq.errors import PayloadError
from asynq.testing import FakeClock

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REFUSED = (ValueError, TypeError, PayloadError)

# Any text, lone surrogates included (they are valid Python str but not valid UTF-8).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=20)


class World:
    """A memory broker with a fixed clock, a client, and a way to take back what was stored."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.broker = asynq.MemoryBroker()
        self.client = asynq.Client(self.broker, clock=self.clock)

    def take(self, queue: str = "default") -> TaskMessage:
        now = self.clock.now()
        (lease,) = self.broker.dequeue([queue], 1, now=now, lease_until=now + 60)
        return lease.message


@pytest.fixture(scope="module")
def world() -> World:
    return World()


# --- payloads --------------------------------------------------------------------------------

JSON_TEXT = st.characters(exclude_categories=("Cs",))  # surrogates are not UTF-8, so not JSON text

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(JSON_TEXT, max_size=30)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(JSON_TEXT, max_size=10), inner, max_size=5),
    max_leaves=25,
)


@PROPERTY
@given(value=JSON_VALUES)
def test_any_json_value_round_trips(world: World, value: Any) -> None:
    world.client.enqueue(asynq.Task("json", value))
    payload = asynq.Payload.from_bytes(world.take().payload)
    expected = {} if value is None else value  # an empty payload reads as {} (Go's nil payload)
    assert payload.data == expected
    if isinstance(value, float):
        assert math.copysign(1, payload.data) == math.copysign(1, value)  # -0.0 stays -0.0


@PROPERTY
@given(value=st.binary(max_size=200))
def test_any_bytes_round_trip_untouched(world: World, value: bytes) -> None:
    world.client.enqueue(asynq.Task("bytes", value))
    assert world.take().payload == value


NOT_JSON = st.one_of(
    st.just(float("nan")),
    st.just(float("inf")),
    st.just(-float("inf")),
    st.just({1, 2}),
    st.just(object()),
    st.just({"k": 1j}),
    st.just({(1, 2): "tuple key"}),
    st.just({1: "a", "b": 2}),  # mixed key types cannot be sorted
    st.text(min_size=1, max_size=5).map(lambda s: s + "\ud800"),  # lone surrogate: not UTF-8
    st.just({"\udfff": 1}),
)


@PROPERTY
@given(value=st.recursive(NOT_JSON, lambda inner: st.lists(inner, min_size=1, max_size=3), max_leaves=5))
def test_non_json_values_raise_payload_error_at_the_call(value: Any) -> None:
    with pytest.raises(PayloadError, match="cannot encode payload as JSON") as caught:
        asynq.Task("t", value)
    assert isinstance(caught.value, ValueError)


# --- task type names -------------------------------------------------------------------------

BLANKS = st.text(st.sampled_from(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u3000"), max_size=6)


@PROPERTY
@given(type_name=st.text(JSON_TEXT, min_size=1, max_size=40).filter(lambda s: s.strip()))
def test_any_non_blank_type_name_works(world: World, type_name: str) -> None:
    # unique: the type is part of the uniqueness lock's key; a fresh payload avoids old locks.
    world.client.enqueue(asynq.Task(type_name, {"n": uuid.uuid4().hex}), unique=60)
    message = world.take()
    assert message.type == type_name
    assert asynq.Task._from_message(message).type == type_name


@pytest.mark.parametrize("type_name", ["email:send", "{braces}", "a}b{c", "ünïcödé 🎉", "x\x00y", "::", "\u200b"])
def test_type_names_with_colons_braces_and_unicode_work(world: World, type_name: str) -> None:
    world.client.enqueue(asynq.Task(type_name), queue="q")
    assert world.take("q").type == type_name


@PROPERTY
@given(type_name=BLANKS)
def test_blank_type_names_raise(type_name: str) -> None:
    with pytest.raises(ValueError, match="task type must be a non-empty string"):
        asynq.Task(type_name)


@PROPERTY
@given(type_name=st.none() | st.integers() | st.binary() | st.lists(st.text()))
def test_non_str_type_names_raise(type_name: Any) -> None:
    with pytest.raises(REFUSED, match="task type"):
        asynq.Task(type_name)


@PROPERTY
@given(type_name=ANY_TEXT.filter(lambda s: s.strip()).map(lambda s: s + "\udc80"))
def test_type_names_that_are_not_unicode_text_raise(type_name: str) -> None:
    with pytest.raises(ValueError, match="task type must be valid Unicode text"):
        asynq.Task(type_name)


# --- enqueue options -------------------------------------------------------------------------

NOW = FakeClock().now()


def _seconds() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-5, 10**6),
        st.floats(-10.0, 1e6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(10**9, 10**20),
        st.timedeltas(min_value=dt.timedelta(seconds=-10), max_value=dt.timedelta(days=3650)),
        st.sampled_from(["10", None, True, b"1", [1]]),
    )


def _times() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.floats(NOW - 1000, NOW + 10**6),
        st.integers(int(NOW) - 1000, int(NOW) + 10**6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**20), 10**20),
        st.datetimes(timezones=st.none() | st.just(dt.timezone.utc)),
        st.sampled_from(["2030-01-01", None, True, b"1"]),
    )


NAMES = st.one_of(
    st.text(st.characters(exclude_characters="{}"), min_size=1, max_size=12),
    st.sampled_from(["", "  ", "a{b", "}", "{q}", "\ud800"]),
    ANY_TEXT,
    st.integers(),
    st.none(),
)

OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "queue": NAMES,
        "max_retry": st.one_of(st.integers(-5, 100), st.integers(2**31 - 2, 2**40), st.sampled_from([1.5, "3", True])),
        "timeout": _seconds(),
        "deadline": _times(),
        "process_at": _times(),
        "process_in": _seconds(),
        "unique": _seconds(),
        "task_id": NAMES,
        "retention": _seconds(),
        "headers": st.one_of(
            st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=3),
            st.sampled_from([{"k": 1}, {1: "v"}, ["k"], "k=v"]),
        ),
    },
)


def _as_seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _as_time(value: Any) -> float:
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=OPTIONS)
def test_enqueue_options_are_refused_clearly_or_stored_faithfully(options: dict[str, Any]) -> None:
    world = World()  # fresh: task IDs and uniqueness locks must not collide across examples
    try:
        info = world.client.enqueue(asynq.Task("opts", {"a": 1}), **options)
    except REFUSED as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        return
    now = world.clock.now()
    queue = options.get("queue", "default")
    if info.state is asynq.TaskState.SCHEDULED:
        # A datetime keeps only microseconds, so forward a second past it (not via the clock:
        # that second may lie beyond the latest time the clock accepts).
        world.broker.forward([queue], now=info.next_process_at.timestamp() + 1)
    message = world.take(queue)
    assert message.queue == info.queue == queue
    assert message.retry == options.get("max_retry", 25)
    if options.get("task_id") is not None:
        assert message.id == info.id == options["task_id"]
    assert dict(message.headers) == dict(options.get("headers") or {})
    retention = options.get("retention")
    assert message.retention == (math.ceil(_as_seconds(retention)) if retention is not None else 0)
    timeout, deadline = options.get("timeout"), options.get("deadline")
    if timeout is not None:
        assert message.timeout == math.ceil(_as_seconds(timeout))
    else:
        assert message.timeout == (1800 if deadline is None else 0)
    assert message.deadline == (math.ceil(_as_time(deadline)) if deadline is not None else 0)
    assert bool(message.unique_key) == (options.get("unique") is not None)
    due = None
    if options.get("process_at") is not None:
        due = _as_time(options["process_at"])
    elif options.get("process_in") is not None:
        due = now + _as_seconds(options["process_in"])
    expected_state = asynq.TaskState.SCHEDULED if due is not None and due > now else asynq.TaskState.PENDING
    assert info.state is expected_state


@PROPERTY
@given(options=OPTIONS, count=st.integers(1, 3))
def test_enqueue_many_refuses_or_stores_every_task(options: dict[str, Any], count: int) -> None:
    assume("task_id" not in options and "unique" not in options)
    world = World()
    try:
        infos = world.client.enqueue_many([asynq.Task("many", i) for i in range(count)], **options)
    except REFUSED as exc:
        assert str(exc)
        return
    assert len({i.id for i in infos}) == count
    assert all(i.queue == options.get("queue", "default") for i in infos)
