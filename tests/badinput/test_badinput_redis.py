"""Bad data and errors from a real Redis: corrupt messages, unknown states, OOM, NOSCRIPT.

Corrupt data is written straight into Redis, as a bug, a bad migration or another tool could
leave it, while a Background is running; the worker archives what it cannot use, with an error
saying why, and goes on processing other tasks. Redis errors get a clear exception at the call
(OOM) or are ridden out (NOSCRIPT), and never stop the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import asynq
from asynq._proto import asynq_pb2
from asynq.brokers.redis import codec, keys, scripts
from asynq.brokers.base import TaskMessage
from asynq.errors import AsynqError, BrokerOutOfMemoryError
from brokers import RedisServer

Q = "default"


class Recorder:
    """A handler that records the payloads it saw, in order; a task with payload "held" waits
    (up to 5 s) for ``gate`` first."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.gate = threading.Event()

    def __call__(self, task: asynq.Task) -> None:
        if task.payload.data == "held":
            assert self.gate.wait(5)
        self.seen.append(task.payload.data)


def _archived(raw: redis.Redis) -> list[str]:
    return sorted(m.decode() for m in raw.zrange(keys.archived(Q), 0, -1))


def _error(raw: redis.Redis, task_id: str) -> str:
    """The archived task's last error (its message may have no type, so parse it leniently)."""
    return asynq_pb2.TaskMessage.FromString(raw.hget(keys.task(Q, task_id), "msg")).error_msg


def _no_leftovers(raw: redis.Redis) -> bool:
    return not raw.lrange(keys.active(Q), 0, -1) and not raw.zrange(keys.lease(Q), 0, -1)


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as conn:
        yield conn


# --- corrupt messages --------------------------------------------------------------------------

CORRUPT = {
    "garbage": b"\xff\xff\xff\xff not protobuf",
    "truncated": codec.encode_task(TaskMessage(type="t", payload=b"p" * 50, id="truncated", queue=Q))[:-20],
    "no-type": asynq_pb2.TaskMessage(id="no-type", queue=Q, payload=b"{}").SerializeToString(),
    "empty": b"",
}


def test_corrupt_messages_arriving_while_the_worker_runs_are_archived(
    redis_url: str, raw: redis.Redis, start_background: Any, eventually: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asynq")
    client = asynq.Client(redis_url)
    recorder = Recorder()
    start_background(redis_url, recorder)
    client.enqueue(asynq.Task("t", 1))
    eventually(lambda: recorder.seen == [1], what="a first task processed")

    for task_id, msg in CORRUPT.items():
        raw.hset(keys.task(Q, task_id), mapping={"msg": msg, "state": "pending"})
        raw.lpush(keys.pending(Q), task_id)
    raw.lpush(keys.pending(Q), "no-hash")  # an ID whose hash is gone
    # A corrupt task that was scheduled: the forwarder moves it, then the dequeue archives it.
    raw.hset(keys.task(Q, "scheduled"), mapping={"msg": b"\x00\x01junk", "state": "scheduled"})
    raw.zadd(keys.scheduled(Q), {"scheduled": time.time() - 1})
    raw.publish(keys.WAKEUP_CHANNEL, Q)
    client.enqueue(asynq.Task("t", 2))

    expected = sorted([*CORRUPT, "no-hash", "scheduled"])
    eventually(lambda: _archived(raw) == expected, what="every corrupt task archived")
    eventually(lambda: recorder.seen == [1, 2], what="the worker to go on with other tasks")
    for task_id in expected:
        assert _error(raw, task_id).startswith("corrupt task message: "), task_id
        assert raw.hget(keys.task(Q, task_id), "state") == b"archived"
    assert "cannot decode task message" in _error(raw, "garbage")
    assert "no ID or no type" in _error(raw, "no-type")
    eventually(lambda: _no_leftovers(raw))
    client.enqueue(asynq.Task("t", 3))
    eventually(lambda: recorder.seen == [1, 2, 3], what="a later task processed")
    assert not [r for r in caplog.records if r.exc_info], "no tracebacks logged"
    client.close()


def test_corrupt_message_with_an_expired_lease_is_archived_by_the_recoverer(
    redis_url: str, raw: redis.Redis, start_background: Any, eventually: Any
) -> None:
    """A worker died holding a task whose message was then corrupted: the recoverer, not
    the dequeue, meets it, and archives it instead of failing every round."""
    for task_id, msg in {"lease-garbage": b"\xfe\xfd garbage", "lease-empty": b""}.items():
        raw.hset(keys.task(Q, task_id), mapping={"msg": msg, "state": "active", "lease_token": "dead-worker"})
        raw.rpush(keys.active(Q), task_id)
        raw.zadd(keys.lease(Q), {task_id: time.time() - 60})
    raw.sadd(keys.ALL_QUEUES, Q)
    client = asynq.Client(redis_url)
    recorder = Recorder()
    start_background(redis_url, recorder)
    eventually(lambda: _archived(raw) == ["lease-empty", "lease-garbage"], what="the recoverer to archive both")
    assert all(_error(raw, i).startswith("corrupt task message: ") for i in ("lease-empty", "lease-garbage"))
    eventually(lambda: _no_leftovers(raw))
    client.enqueue(asynq.Task("t", "after"))
    eventually(lambda: recorder.seen == ["after"])
    client.close()


def test_unknown_hash_state_is_archived_with_an_error_saying_so(
    redis_url: str, raw: redis.Redis, start_background: Any, eventually: Any
) -> None:
    message = TaskMessage(type="t", payload=b'"odd"', id="odd-state", queue=Q)
    raw.hset(keys.task(Q, "odd-state"), mapping={"msg": codec.encode_task(message), "state": "from-the-future"})
    raw.lpush(keys.pending(Q), "odd-state")
    raw.sadd(keys.ALL_QUEUES, Q)
    client = asynq.Client(redis_url)
    client.enqueue(asynq.Task("t", "normal"))
    recorder = Recorder()
    start_background(redis_url, recorder)
    eventually(lambda: "normal" in recorder.seen, what="the normal task processed")
    eventually(lambda: _archived(raw) == ["odd-state"], timeout=1.0, what="the odd task archived")
    assert "from-the-future" in _error(raw, "odd-state")
    assert "odd" not in recorder.seen
    client.close()


# --- Redis out of memory ------------------------------------------------------------------------


MAXMEMORY = 2 * 1024 * 1024


@pytest.fixture
def small_redis() -> Iterator[RedisServer]:
    """A private Redis with 2 MB of memory that refuses writes when full (noeviction).

    Not 1 MB: Redis 7 uses about 0.95 MB when empty, and with our scripts loaded and a few
    clients connected it is over 1 MB before a single task is stored."""
    server = RedisServer(config=[f"maxmemory {MAXMEMORY}", "maxmemory-policy noeviction"], name="redis-oom")
    server.start()
    yield server
    server.stop()


def _fill(conn: redis.Redis) -> None:
    """Write until Redis refuses for lack of memory, and keep it refusing.

    Redis's memory use moves by some kilobytes on its own (it shrinks idle clients' buffers),
    which can bring a just-full server back under its limit; so once it is full the limit is
    lowered 256 KB below what is used, and every write is refused until memory is freed.
    """
    for i in range(100_000):
        try:
            conn.set(f"filler:{i}", b"x" * 8192)
        except redis.exceptions.OutOfMemoryError:
            break
    conn.config_set("maxmemory", int(conn.info("memory")["used_memory"]) - 256 * 1024)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        conn.set("filler:probe", b"x")


def _free(conn: redis.Redis) -> None:
    for key in conn.scan_iter("filler:*", count=1000):
        conn.delete(key)
    conn.config_set("maxmemory", MAXMEMORY)


def test_enqueue_on_a_full_redis_raises_a_clear_error_quickly(small_redis: RedisServer) -> None:
    client = asynq.Client(small_redis.url)
    client.enqueue(asynq.Task("t", "before"))
    with small_redis.client() as conn:
        _fill(conn)
        for attempt in (
            lambda: client.enqueue(asynq.Task("t", "during")),
            lambda: client.enqueue_many([asynq.Task("t", i) for i in range(3)]),
        ):
            started = time.monotonic()
            with pytest.raises(BrokerOutOfMemoryError) as caught:
                attempt()
            assert time.monotonic() - started < 2.0, "an OOM reply must not be retried like an outage"
            message = str(caught.value)
            assert message.startswith(f"the broker at {small_redis.addr} is out of memory")
            assert "maxmemory" in message and "Command #" not in message
            assert isinstance(caught.value, AsynqError)
            assert isinstance(caught.value.__cause__, redis.exceptions.OutOfMemoryError)
        _free(conn)
        client.enqueue(asynq.Task("t", "after"))
        assert conn.llen(keys.pending(Q)) == 2
    client.close()


def test_worker_rides_out_a_full_redis(
    small_redis: RedisServer, start_background: Any, eventually: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asynq")
    client = asynq.Client(small_redis.url)
    recorder = Recorder()

    client.enqueue(asynq.Task("t", "held"))
    client.enqueue(asynq.Task("t", "queued"))  # waits in pending through the OOM
    bg = start_background(small_redis.url, recorder, concurrency=1)
    conn = small_redis.client()
    eventually(lambda: conn.llen(keys.active(Q)) == 1, what="the held task to start")
    _fill(conn)
    recorder.gate.set()  # the held task finishes while Redis is full
    # Its success and the next lease are one script, which Redis lets go on because it begins
    # by deleting (a script that has written is never cut off half-way): settling frees more
    # memory than a lease takes, so the queue drains while Redis is full.
    eventually(lambda: recorder.seen == ["held", "queued"], what="the queue to drain while full")
    eventually(lambda: int(conn.get(keys.processed_total(Q)) or 0) == 2, what="both recorded as processed")
    # With nothing left to settle, a plain fetch is refused: logged, and the worker keeps going.
    eventually(lambda: any("maxmemory" in r.getMessage() for r in caplog.records), what="the OOM to be logged")
    assert bg._status == "active"
    _free(conn)
    client.enqueue(asynq.Task("t", "after"))
    eventually(lambda: recorder.seen == ["held", "queued", "after"], timeout=5.0, what="processing to go on")
    eventually(lambda: int(conn.get(keys.processed_total(Q)) or 0) == 3, what="all recorded as processed")
    assert conn.llen(keys.pending(Q)) == 0 and _no_leftovers(conn)
    conn.close()
    client.close()


# --- NOSCRIPT: Redis lost its script cache ----------------------------------------------------------


def _scripts_cached(conn: redis.Redis) -> bool:
    return all(conn.script_exists(*scripts._SHAS.values()))


def test_client_reloads_scripts_after_script_flush(redis_url: str, raw: redis.Redis) -> None:
    client = asynq.Client(redis_url)
    client.enqueue(asynq.Task("t", 1))
    raw.script_flush()
    assert not any(raw.script_exists(*scripts._SHAS.values()))
    client.enqueue(asynq.Task("t", 2))  # NOSCRIPT, reload, retry
    client.enqueue_many([asynq.Task("t", 3), asynq.Task("t", 4)])
    assert raw.llen(keys.pending(Q)) == 4
    assert _scripts_cached(raw)
    client.close()


def test_worker_reloads_scripts_after_script_flush(
    redis_url: str, raw: redis.Redis, start_background: Any, eventually: Any
) -> None:
    client = asynq.Client(redis_url)
    recorder = Recorder()

    client.enqueue(asynq.Task("t", 1))
    start_background(redis_url, recorder, concurrency=1)
    eventually(lambda: recorder.seen == [1])
    # Flushed while the worker idles: its next fetch meets NOSCRIPT and reloads, with no
    # client involved.
    raw.script_flush()
    eventually(lambda: _scripts_cached(raw), what="the worker to reload the scripts")
    # Flushed while a task runs: recording its outcome meets NOSCRIPT and still succeeds.
    client.enqueue(asynq.Task("t", "held"))
    eventually(lambda: raw.llen(keys.active(Q)) == 1, what="the held task to start")
    raw.script_flush()
    recorder.gate.set()
    eventually(lambda: recorder.seen == [1, "held"])
    eventually(lambda: int(raw.get(keys.processed_total(Q)) or 0) == 2, what="the outcome recorded")
    raw.script_flush()
    client.enqueue(asynq.Task("t", 3))
    eventually(lambda: recorder.seen == [1, "held", 3])
    eventually(lambda: _no_leftovers(raw))
    client.close()


# --- a Redis error while recording an outcome -----------------------------------------------------


class _FailsOnce(asynq.MemoryBroker):
    """A broker whose first attempt to record a success gets an error reply from Redis."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = threading.Event()

    def _fail_once(self) -> None:
        if not self.failed.is_set():
            self.failed.set()
            raise redis.exceptions.ResponseError("ERR something unexpected")

    def succeed(self, lease: Any, *, now: float) -> bool:
        self._fail_once()
        return super().succeed(lease, now=now)

    def succeed_many(self, leases: Any, *, now: float) -> list[bool]:  # the worker's batched path
        self._fail_once()
        return super().succeed_many(leases, now=now)


def test_an_error_reply_while_recording_an_outcome_does_not_end_the_worker(
    start_background: Any, eventually: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asynq")
    broker = _FailsOnce()
    client = asynq.Client(broker)
    recorder = Recorder()
    first = client.enqueue(asynq.Task("t", 1))
    start_background(broker, recorder, concurrency=1, lease_duration=1.0, heartbeat_interval=0.2)
    eventually(lambda: broker.failed.is_set())
    eventually(lambda: any("cannot record the outcome" in r.getMessage() for r in caplog.records))
    # The one worker thread survived: it runs the next task.
    client.enqueue(asynq.Task("t", 2))
    eventually(lambda: 2 in recorder.seen, what="the worker thread to take the next task")
    # The first task is not lost: once its lease expires the recoverer brings it back (to run at
    # once: the failure was the worker's), and this time its success is recorded.
    eventually(lambda: recorder.seen.count(1) == 2, timeout=5.0,
               what="the task whose outcome was lost to run again")
    eventually(lambda: broker._client.exists(keys.task(Q, first.id)) == 0,
               what="the second run's success to be recorded")
    assert broker._client.zrange(keys.retry(Q), 0, -1) == []
