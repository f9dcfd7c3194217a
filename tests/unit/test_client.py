"""Client: every enqueue option's effect on the stored message and TaskInfo, and every misuse.

All tests run on a MemoryBroker (the Redis code over fakeredis) with a fixed clock, and read
what the broker stored straight from the fakeredis server, in Go asynq's key layout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest

import asynq
from asynq import (
    Client,
    DuplicateTaskError,
    EnqueueManyError,
    MemoryBroker,
    PayloadError,
    RedisClientOpt,
    Task,
    TaskIDConflictError,
    TaskInfo,
    TaskState,
)
from asynq.brokers.base import EnqueueRequest, TaskMessage
from asynq.brokers.redis import codec, keys
from asynq.errors import AsynqError

UTC = dt.timezone.utc
NOW = 1_700_000_000.0
"""The fake clock's time: 2023-11-14T22:13:20Z."""
NOW_DT = dt.datetime.fromtimestamp(NOW, UTC)


class FixedClock:
    """A clock that says ``NOW`` until a test moves it."""

    def __init__(self, now: float = NOW) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker()


@pytest.fixture
def db(broker: MemoryBroker) -> fakeredis.FakeRedis:
    """A raw connection to the broker's fakeredis server, to look at what was stored."""
    return fakeredis.FakeRedis(server=broker.server)


@pytest.fixture
def client(broker: MemoryBroker) -> Iterator[Client]:
    with Client(broker, clock=FixedClock()) as c:
        yield c


def stored(db: fakeredis.FakeRedis, queue: str, task_id: str) -> tuple[TaskMessage, dict[bytes, bytes]]:
    """The decoded ``msg`` of a stored task and its whole hash."""
    fields = db.hgetall(keys.task(queue, task_id))
    assert fields, f"task {task_id} is not stored in queue {queue}"
    return codec.decode_task(fields[b"msg"]), fields


def pending_ids(db: fakeredis.FakeRedis, queue: str = "default") -> list[str]:
    """Pending IDs in processing order (LPUSH to enqueue, pop from the right)."""
    return [i.decode() for i in reversed(db.lrange(keys.pending(queue), 0, -1))]


def scheduled(db: fakeredis.FakeRedis, queue: str = "default") -> dict[str, float]:
    return {i.decode(): score for i, score in db.zrange(keys.scheduled(queue), 0, -1, withscores=True)}


def utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, UTC)


def assert_info_matches(info: TaskInfo, msg: TaskMessage) -> None:
    """TaskInfo tells the same story as the stored message."""
    assert (info.id, info.queue, info.type) == (msg.id, msg.queue, msg.type)
    assert info.payload.raw == msg.payload
    assert info.max_retry == msg.retry
    assert info.retried == 0 and info.last_error == "" and info.last_failed_at is None
    assert info.timeout == (dt.timedelta(seconds=msg.timeout) if msg.timeout else None)
    assert info.deadline == (utc(msg.deadline) if msg.deadline else None)
    assert info.retention == (dt.timedelta(seconds=msg.retention) if msg.retention else None)
    assert info.completed_at is None
    assert dict(info.headers) == dict(msg.headers)


# --- defaults and the options that shape the message --------------------------------------------


def test_enqueue_defaults(client: Client, db: fakeredis.FakeRedis) -> None:
    info = client.enqueue(Task("send_welcome_email", {"user_id": 42}))

    msg, fields = stored(db, "default", info.id)
    assert msg == TaskMessage(
        type="send_welcome_email",
        payload=b'{"user_id":42}',
        id=info.id,
        queue="default",
        retry=25,
        timeout=1800,  # Go asynq's default when neither timeout nor deadline is given
        deadline=0,
    )
    assert fields[b"state"] == b"pending"
    assert int(fields[b"pending_since"]) == int(NOW) * 10**9
    assert b"unique_key" not in fields
    assert pending_ids(db) == [info.id]
    assert db.smembers(keys.ALL_QUEUES) == {b"default"}

    assert info.state is TaskState.PENDING
    assert info.next_process_at == NOW_DT
    assert_info_matches(info, msg)


def test_each_task_gets_a_fresh_id(client: Client, db: fakeredis.FakeRedis) -> None:
    ids = [client.enqueue(Task("t", {"n": 1})).id for _ in range(3)]
    assert len(set(ids)) == 3
    assert pending_ids(db) == ids


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({"queue": "critical"}, {"queue": "critical"}, id="queue"),
        pytest.param({"max_retry": 5}, {"retry": 5}, id="max_retry"),
        pytest.param({"max_retry": 0}, {"retry": 0}, id="max_retry=0"),
        pytest.param({"timeout": 30}, {"timeout": 30, "deadline": 0}, id="timeout"),
        pytest.param({"timeout": dt.timedelta(minutes=2)}, {"timeout": 120}, id="timeout-timedelta"),
        # Fractions round up: a task is never given less time than asked for.
        pytest.param({"timeout": 1.2}, {"timeout": 2}, id="timeout-rounds-up"),
        pytest.param(
            {"deadline": NOW + 3600}, {"timeout": 0, "deadline": int(NOW) + 3600}, id="deadline-only"
        ),
        pytest.param(
            {"deadline": utc(NOW + 60)}, {"timeout": 0, "deadline": int(NOW) + 60}, id="deadline-datetime"
        ),
        pytest.param({"deadline": NOW + 10.2}, {"deadline": int(NOW) + 11}, id="deadline-rounds-up"),
        pytest.param(
            {"timeout": 30, "deadline": NOW + 60},
            {"timeout": 30, "deadline": int(NOW) + 60},
            id="timeout+deadline",
        ),
        pytest.param({"retention": 3600}, {"retention": 3600}, id="retention"),
        pytest.param({"retention": dt.timedelta(days=1)}, {"retention": 86400}, id="retention-timedelta"),
        pytest.param({"retention": 0}, {"retention": 0}, id="retention=0"),
    ],
)
def test_option_is_stored(
    client: Client, db: fakeredis.FakeRedis, options: dict[str, Any], expected: dict[str, Any]
) -> None:
    info = client.enqueue(Task("t", {"a": 1}), **options)

    queue = options.get("queue", "default")
    msg, fields = stored(db, queue, info.id)
    for field, value in expected.items():
        assert getattr(msg, field) == value, field
    assert fields[b"state"] == b"pending"
    assert pending_ids(db, queue) == [info.id]
    assert info.state is TaskState.PENDING
    assert_info_matches(info, msg)


def test_payload_bytes_are_stored_untouched(client: Client, db: fakeredis.FakeRedis) -> None:
    info = client.enqueue(Task("t", b"\x00\xff raw"))
    assert stored(db, "default", info.id)[0].payload == b"\x00\xff raw"


def test_payload_none_is_empty(client: Client, db: fakeredis.FakeRedis) -> None:
    info = client.enqueue(Task("t"))
    assert stored(db, "default", info.id)[0].payload == b""


def test_headers_merge_with_task_headers(client: Client, db: fakeredis.FakeRedis) -> None:
    task = Task("t", headers={"trace": "abc", "lang": "en"})

    info = client.enqueue(task, headers={"lang": "fr", "tenant": "7"})

    expected = {"trace": "abc", "lang": "fr", "tenant": "7"}  # the enqueue option wins
    assert dict(stored(db, "default", info.id)[0].headers) == expected
    assert dict(info.headers) == expected
    assert task.headers == {"trace": "abc", "lang": "en"}  # the task is not changed


# --- when a task runs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "due"),
    [
        pytest.param({"process_at": NOW + 90.5}, NOW + 90.5, id="process_at-seconds"),  # sub-second
        pytest.param({"process_at": utc(NOW + 3600)}, NOW + 3600, id="process_at-datetime"),
        pytest.param({"process_in": 60}, NOW + 60, id="process_in-seconds"),
        pytest.param({"process_in": 0.25}, NOW + 0.25, id="process_in-fraction"),
        pytest.param({"process_in": dt.timedelta(hours=24)}, NOW + 86400, id="process_in-timedelta"),
    ],
)
def test_future_time_is_scheduled(
    client: Client, db: fakeredis.FakeRedis, options: dict[str, Any], due: float
) -> None:
    info = client.enqueue(Task("t"), **options)

    msg, fields = stored(db, "default", info.id)
    assert fields[b"state"] == b"scheduled"
    assert scheduled(db) == {info.id: due}
    assert pending_ids(db) == []
    assert msg.timeout == 1800
    assert info.state is TaskState.SCHEDULED
    assert info.next_process_at == utc(due)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"process_at": NOW}, id="process_at-now"),
        pytest.param({"process_at": NOW - 3600}, id="process_at-past"),
        pytest.param({"process_at": utc(NOW - 1)}, id="process_at-past-datetime"),
        pytest.param({"process_in": 0}, id="process_in-0"),
    ],
)
def test_time_not_in_the_future_is_pending_now(
    client: Client, db: fakeredis.FakeRedis, options: dict[str, Any]
) -> None:
    info = client.enqueue(Task("t"), **options)

    assert stored(db, "default", info.id)[1][b"state"] == b"pending"
    assert pending_ids(db) == [info.id]
    assert scheduled(db) == {}
    assert info.state is TaskState.PENDING
    assert info.next_process_at == NOW_DT


@pytest.mark.parametrize(
    ("when", "state"),
    [
        pytest.param(NOW_DT, TaskState.PENDING, id="now"),  # the seed's Schedule(t, time.Now())
        pytest.param(NOW_DT - dt.timedelta(days=1), TaskState.PENDING, id="past"),
        pytest.param(NOW - 5, TaskState.PENDING, id="past-seconds"),
        pytest.param(NOW_DT + dt.timedelta(hours=24), TaskState.SCHEDULED, id="future"),
        pytest.param(NOW + 5, TaskState.SCHEDULED, id="future-seconds"),
    ],
)
def test_schedule(
    client: Client, db: fakeredis.FakeRedis, when: dt.datetime | float, state: TaskState
) -> None:
    info = client.schedule(Task("send_reminder_email", {"user_id": 42}), when)

    assert info.state is state
    assert stored(db, "default", info.id)[1][b"state"] == state.value.encode()
    if state is TaskState.PENDING:
        assert pending_ids(db) == [info.id]
        assert info.next_process_at == NOW_DT
    else:
        due = when.timestamp() if isinstance(when, dt.datetime) else when
        assert scheduled(db) == {info.id: due}
        assert info.next_process_at == utc(due)


def test_schedule_takes_enqueue_options(client: Client, db: fakeredis.FakeRedis) -> None:
    info = client.schedule(Task("t"), NOW + 60, queue="low", max_retry=3)

    msg, _ = stored(db, "low", info.id)
    assert (msg.queue, msg.retry) == ("low", 3)
    assert scheduled(db, "low") == {info.id: NOW + 60}


# --- unique --------------------------------------------------------------------------------------


def lock_key(queue: str, task_type: str, payload: bytes) -> str:
    """Go asynq's uniqueness lock key, spelled out here rather than taken from the code."""
    return f"asynq:{{{queue}}}:unique:{task_type}:{hashlib.md5(payload).hexdigest()}"


@pytest.mark.parametrize(
    ("options", "ttl"),
    [
        pytest.param({"unique": 60}, 60, id="pending"),
        pytest.param({"unique": dt.timedelta(minutes=5)}, 300, id="timedelta"),
        # A scheduled task holds the lock for its wait plus the TTL, as in Go asynq.
        pytest.param({"unique": 60, "process_in": 3600}, 3660, id="scheduled"),
        pytest.param({"unique": 60, "process_at": NOW + 100}, 160, id="scheduled-at"),
        pytest.param({"unique": 60, "process_at": NOW - 100}, 60, id="past-time"),
    ],
)
def test_unique_lock(client: Client, db: fakeredis.FakeRedis, options: dict[str, Any], ttl: float) -> None:
    info = client.enqueue(Task("email", {"user_id": 42}), **options)

    key = lock_key("default", "email", b'{"user_id":42}')
    msg, fields = stored(db, "default", info.id)
    assert msg.unique_key == key
    assert fields[b"unique_key"] == key.encode()
    assert db.get(key) == info.id.encode()
    # fakeredis counts the TTL down in real time: allow a few seconds of test run time.
    assert ttl * 1000 - 5000 < db.pttl(key) <= ttl * 1000


def test_unique_rejects_a_duplicate(client: Client, db: fakeredis.FakeRedis) -> None:
    first = client.enqueue(Task("email", {"user_id": 42}), unique=60)

    with pytest.raises(DuplicateTaskError) as caught:
        client.enqueue(Task("email", {"user_id": 42}), unique=60)

    key = lock_key("default", "email", b'{"user_id":42}')
    assert caught.value.queue == "default"
    assert caught.value.unique_key == key
    assert key in str(caught.value)
    assert pending_ids(db) == [first.id]
    assert db.get(key) == first.id.encode()


@pytest.mark.parametrize(
    ("task", "options"),
    [
        pytest.param(Task("email", {"user_id": 43}), {"unique": 60}, id="other-payload"),
        pytest.param(Task("sms", {"user_id": 42}), {"unique": 60}, id="other-type"),
        pytest.param(Task("email", {"user_id": 42}), {"unique": 60, "queue": "low"}, id="other-queue"),
        pytest.param(Task("email", {"user_id": 42}), {}, id="not-unique"),
    ],
)
def test_unique_allows_a_different_task(client: Client, task: Task, options: dict[str, Any]) -> None:
    client.enqueue(Task("email", {"user_id": 42}), unique=60)
    assert client.enqueue(task, **options).state is TaskState.PENDING


def test_not_unique_sets_no_lock(client: Client, db: fakeredis.FakeRedis) -> None:
    info = client.enqueue(Task("email", {"user_id": 42}))
    assert stored(db, "default", info.id)[0].unique_key == ""
    assert db.keys("*unique*") == []


# --- task_id -------------------------------------------------------------------------------------


def test_task_id(client: Client, db: fakeredis.FakeRedis) -> None:
    info = client.enqueue(Task("t"), task_id="order-42")

    assert info.id == "order-42"
    assert stored(db, "default", "order-42")[0].id == "order-42"
    assert pending_ids(db) == ["order-42"]


def test_task_id_conflict(client: Client, db: fakeredis.FakeRedis) -> None:
    client.enqueue(Task("t", {"n": 1}), task_id="order-42")

    with pytest.raises(TaskIDConflictError) as caught:
        client.enqueue(Task("t", {"n": 2}), task_id="order-42")

    assert (caught.value.queue, caught.value.task_id) == ("default", "order-42")
    assert "order-42" in str(caught.value)
    assert stored(db, "default", "order-42")[0].payload == b'{"n":1}'  # the first one is kept
    assert pending_ids(db) == ["order-42"]


def test_task_id_is_per_queue(client: Client, db: fakeredis.FakeRedis) -> None:
    client.enqueue(Task("t"), task_id="x")
    client.enqueue(Task("t"), task_id="x", queue="low")
    assert pending_ids(db, "default") == ["x"] and pending_ids(db, "low") == ["x"]


def test_same_call_repeated_with_task_id_is_harmless(client: Client, db: fakeredis.FakeRedis) -> None:
    """A retried call (identical message) is accepted once more, not stored twice."""
    first = client.enqueue(Task("t", {"n": 1}), task_id="x")
    again = client.enqueue(Task("t", {"n": 1}), task_id="x")
    assert first == again
    assert pending_ids(db) == ["x"]


def test_errors_are_exported() -> None:
    for name in ("TaskIDConflictError", "DuplicateTaskError", "EnqueueManyError", "BrokerConnectionError"):
        assert name in asynq.__all__
        assert issubclass(getattr(asynq, name), AsynqError)
    assert asynq.TaskIDConflictError is TaskIDConflictError
    assert asynq.DuplicateTaskError is DuplicateTaskError


# --- enqueue_many --------------------------------------------------------------------------------


class BrokerSpy:
    """Records the calls the client makes to the broker's enqueue methods."""

    def __init__(self, broker: MemoryBroker, monkeypatch: pytest.MonkeyPatch) -> None:
        self.many_calls: list[list[EnqueueRequest]] = []
        self.single_calls = 0
        real_many = broker.enqueue_many
        real_single = broker.enqueue

        def enqueue_many(requests: list[EnqueueRequest], *, now: float) -> list[Any]:
            self.many_calls.append(list(requests))
            return real_many(requests, now=now)

        def enqueue(request: EnqueueRequest, *, now: float) -> TaskState:
            self.single_calls += 1
            return real_single(request, now=now)

        monkeypatch.setattr(broker, "enqueue_many", enqueue_many)
        monkeypatch.setattr(broker, "enqueue", enqueue)


def test_enqueue_many_is_one_broker_call(
    client: Client, broker: MemoryBroker, db: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = BrokerSpy(broker, monkeypatch)
    tasks = [Task("t", {"n": n}) for n in range(5)]

    infos = client.enqueue_many(tasks, queue="bulk", max_retry=3, timeout=10, headers={"h": "1"})

    assert len(spy.many_calls) == 1 and len(spy.many_calls[0]) == 5
    assert spy.single_calls == 0
    assert [i.payload.get_int("n") for i in infos] == list(range(5))
    assert len({i.id for i in infos}) == 5
    assert pending_ids(db, "bulk") == [i.id for i in infos]
    for info in infos:
        msg, _ = stored(db, "bulk", info.id)
        assert (msg.queue, msg.retry, msg.timeout, dict(msg.headers)) == ("bulk", 3, 10, {"h": "1"})
        assert info.state is TaskState.PENDING
        assert_info_matches(info, msg)


def test_enqueue_many_scheduled(client: Client, db: fakeredis.FakeRedis) -> None:
    infos = client.enqueue_many([Task("a"), Task("b")], process_in=30)
    assert [i.state for i in infos] == [TaskState.SCHEDULED] * 2
    assert scheduled(db) == {i.id: NOW + 30 for i in infos}


def test_enqueue_many_of_nothing(client: Client, db: fakeredis.FakeRedis) -> None:
    assert client.enqueue_many([]) == []
    assert db.dbsize() == 0


def test_enqueue_many_mixed_outcome(
    client: Client, broker: MemoryBroker, db: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = client.enqueue(Task("email", {"user_id": 1}), unique=60)
    spy = BrokerSpy(broker, monkeypatch)
    tasks = [
        Task("email", {"user_id": 1}),  # its lock is held by `held`
        Task("email", {"user_id": 2}),
        Task("email", {"user_id": 2}),  # duplicate of the previous one in the same batch
        Task("email", {"user_id": 3}),
    ]

    with pytest.raises(EnqueueManyError) as caught:
        client.enqueue_many(tasks, unique=60)

    assert len(spy.many_calls) == 1
    results = caught.value.results
    assert [type(r) for r in results] == [DuplicateTaskError, TaskInfo, DuplicateTaskError, TaskInfo]
    assert "2 of 4" in str(caught.value)
    stored_infos = [r for r in results if isinstance(r, TaskInfo)]
    assert [i.payload.get_int("user_id") for i in stored_infos] == [2, 3]
    assert pending_ids(db) == [held.id] + [i.id for i in stored_infos]
    for info in stored_infos:
        assert stored(db, "default", info.id)[1][b"state"] == b"pending"


def test_enqueue_many_validates_every_task_before_storing(client: Client, db: fakeredis.FakeRedis) -> None:
    with pytest.raises(TypeError, match="asynq.Task"):
        client.enqueue_many([Task("a"), "not a task"])  # type: ignore[list-item]
    assert db.dbsize() == 0


# --- bad input -----------------------------------------------------------------------------------

T = Task("t", {"a": 1})

BadCall = Callable[[Client], object]
case = pytest.param
BAD_INPUTS: list[Any] = [
    # task type
    case(lambda c: c.enqueue(Task("")), ValueError, "task type", id="empty-type"),
    case(lambda c: c.enqueue(Task("   ")), ValueError, "task type", id="blank-type"),
    case(lambda c: c.enqueue(Task(42)), ValueError, "task type", id="int-type"),  # type: ignore[arg-type]
    case(lambda c: c.enqueue(Task(None)), ValueError, "task type", id="None-type"),  # type: ignore[arg-type]
    # payload
    case(lambda c: c.enqueue(Task("t", object())), PayloadError, "JSON", id="object-payload"),
    case(lambda c: c.enqueue(Task("t", {"s": {1, 2}})), PayloadError, "set", id="set-in-payload"),
    case(lambda c: c.enqueue(Task("t", math.nan)), PayloadError, "JSON", id="nan-payload"),
    # queue name
    case(lambda c: c.enqueue(T, queue=""), ValueError, "queue name", id="empty-queue"),
    case(lambda c: c.enqueue(T, queue="  "), ValueError, "queue name", id="blank-queue"),
    case(lambda c: c.enqueue(T, queue="a{b"), ValueError, "queue name must not contain", id="queue-{"),
    case(lambda c: c.enqueue(T, queue="a}b"), ValueError, "queue name must not contain", id="queue-}"),
    case(lambda c: c.enqueue(T, queue=5), ValueError, "queue name", id="int-queue"),
    case(lambda c: c.enqueue_many([T], queue="{x}"), ValueError, "queue name", id="many-queue-braces"),
    # task ID
    case(lambda c: c.enqueue(T, task_id="a{b}"), ValueError, "task_id must not contain", id="id-braces"),
    case(lambda c: c.enqueue(T, task_id=""), ValueError, "task_id", id="empty-id"),
    case(lambda c: c.enqueue(T, task_id=7), ValueError, "task_id", id="int-id"),
    # max_retry
    case(lambda c: c.enqueue(T, max_retry=-1), ValueError, "max_retry must not be negative", id="retry<0"),
    case(lambda c: c.enqueue(T, max_retry=True), TypeError, "max_retry must be an int", id="retry-bool"),
    case(lambda c: c.enqueue(T, max_retry=2.0), TypeError, "max_retry must be an int", id="retry-float"),
    case(lambda c: c.enqueue(T, max_retry="3"), TypeError, "max_retry must be an int", id="retry-str"),
    case(lambda c: c.enqueue(T, max_retry=2**31), ValueError, "max_retry must be at most", id="retry>int32"),
    # deadline
    case(lambda c: c.enqueue(T, deadline=NOW - 1), ValueError, "deadline .* in the past", id="deadline-past"),
    case(lambda c: c.enqueue(T, deadline=NOW), ValueError, "deadline .* in the past", id="deadline-now"),
    case(
        lambda c: c.enqueue(T, deadline=dt.datetime(2020, 1, 1, tzinfo=UTC)),
        ValueError,
        "deadline .* in the past",
        id="deadline-past-datetime",
    ),
    case(lambda c: c.enqueue(T, deadline="tomorrow"), TypeError, "deadline", id="deadline-str"),
    # timeout
    case(lambda c: c.enqueue(T, timeout=0), ValueError, "timeout must be at least 1", id="timeout=0"),
    case(lambda c: c.enqueue(T, timeout=-30), ValueError, "timeout must be at least 1", id="timeout<0"),
    case(lambda c: c.enqueue(T, timeout=0.5), ValueError, "timeout must be at least 1", id="timeout<1s"),
    case(
        lambda c: c.enqueue(T, timeout=dt.timedelta(0)), ValueError, "timeout must be at", id="timeout-td0"
    ),
    case(lambda c: c.enqueue(T, timeout="30"), TypeError, "timeout", id="timeout-str"),
    case(lambda c: c.enqueue(T, timeout=math.inf), TypeError, "timeout", id="timeout-inf"),
    # unique
    case(lambda c: c.enqueue(T, unique=0.5), ValueError, "unique must be at least 1", id="unique<1s"),
    case(lambda c: c.enqueue(T, unique=0), ValueError, "unique must be at least 1", id="unique=0"),
    case(
        lambda c: c.enqueue(T, unique=dt.timedelta(milliseconds=999)), ValueError, "unique", id="unique-td<1s"
    ),
    # process_at / process_in
    case(
        lambda c: c.enqueue(T, process_at=NOW + 5, process_in=5),
        ValueError,
        "process_at or process_in, not both",
        id="process_at+process_in",
    ),
    case(lambda c: c.enqueue(T, process_in=-5), ValueError, "process_in", id="process_in<0"),
    case(lambda c: c.enqueue(T, process_at="soon"), TypeError, "process_at", id="process_at-str"),
    case(lambda c: c.schedule(T, "soon"), TypeError, "process_at", id="schedule-str"),
    # retention
    case(lambda c: c.enqueue(T, retention=-1), ValueError, "retention", id="retention<0"),
    # enqueue_many options
    case(lambda c: c.enqueue_many([T], queu="x"), TypeError, "unknown enqueue option.*queu", id="many-typo"),
    case(lambda c: c.enqueue_many([T], task_id="x"), ValueError, "task_id", id="many-task_id"),
    # not a Task
    case(lambda c: c.enqueue("send_email"), TypeError, "expected an asynq.Task, got str", id="str-task"),
    case(lambda c: c.enqueue({"type": "t"}), TypeError, "asynq.Task", id="dict-task"),
    case(lambda c: c.schedule(None, NOW), TypeError, "asynq.Task", id="schedule-None"),
    case(lambda c: c.enqueue_many([T, 42]), TypeError, "asynq.Task", id="many-int-element"),
    # headers
    case(lambda c: c.enqueue(T, headers={"a": 1}), TypeError, "headers must map str to str", id="hdr-val"),
    case(lambda c: c.enqueue(T, headers={1: "a"}), TypeError, "headers must map str to str", id="hdr-key"),
    case(lambda c: c.enqueue(T, headers="a=b"), TypeError, "headers must be a mapping", id="hdr-str"),
    case(lambda c: c.enqueue(T, headers=[("a", "b")]), TypeError, "headers must be a mapping", id="hdr-list"),
    case(lambda c: c.enqueue(Task("t", headers={"a": None})), TypeError, "headers", id="task-hdr-val"),
    case(lambda c: c.enqueue_many([T], headers={"a": 1}), TypeError, "headers", id="many-hdr"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_INPUTS)
def test_bad_input_raises_at_the_call(
    client: Client, db: fakeredis.FakeRedis, call: BadCall, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call(client)
    assert db.dbsize() == 0, "nothing may be stored by a call that failed its checks"


# --- lifecycle -----------------------------------------------------------------------------------


class CloseSpy:
    def __init__(self, broker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = broker.close

        def close() -> None:
            self.calls += 1
            real()

        monkeypatch.setattr(broker, "close", close)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("memory://test-client-owned", id="memory-url"),
        pytest.param(RedisClientOpt(addr="127.0.0.1:1"), id="RedisClientOpt"),  # never connects
    ],
)
def test_context_manager_closes_an_owned_broker(spec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(spec, clock=FixedClock())
    spy = CloseSpy(client.broker, monkeypatch)
    with pytest.raises(RuntimeError, match="boom"), client:
        raise RuntimeError("boom")
    assert spy.calls == 1


def test_context_manager_leaves_a_given_broker_open(
    broker: MemoryBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = CloseSpy(broker, monkeypatch)
    with Client(broker, clock=FixedClock()) as client:
        client.enqueue(Task("t"))
    client.close()
    assert spy.calls == 0
    assert Client(broker, clock=FixedClock()).enqueue(Task("t")).state is TaskState.PENDING


def test_clock_defaults_to_the_system_clock(broker: MemoryBroker) -> None:
    before = time.time()
    info = Client(broker).enqueue(Task("t"))
    after = time.time()
    assert info.next_process_at is not None
    assert before - 1e-3 <= info.next_process_at.timestamp() <= after + 1e-3
