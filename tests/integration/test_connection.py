"""A Client reaches real Redis every supported way, fails fast and clearly when it can't, and
survives a Sentinel failover.

Uses the servers the suite starts on loopback ports (tests/conftest.py, brokers/).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from asynq import (
    BrokerConnectionError,
    Client,
    RedisClientOpt,
    RedisFailoverClientOpt,
    Task,
    TaskInfo,
    TaskState,
)
from asynq.brokers.redis import codec, keys
from brokers import SentinelSet
from brokers._ports import free_port
from testkit import wait_until


SECRET = "s3cr3t-pw"
HANG_GUARD = 10.0
"""Seconds after which a call that should fail within its 1 s connect timeout counts as hung."""


wait_for = wait_until


def connect(addr: str) -> redis.Redis:
    host, port = addr.rsplit(":", 1)
    return redis.Redis(host=host, port=int(port), socket_timeout=5)


def addr_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def assert_pending_on(conn: redis.Redis, info: TaskInfo) -> None:
    """``conn``'s server holds ``info``'s task, pending, with the message the client built."""
    fields = conn.hgetall(keys.task(info.queue, info.id))
    assert fields, f"task {info.id} is not on {conn}"
    assert fields[b"state"] == b"pending"
    msg = codec.decode_task(fields[b"msg"])
    assert (msg.id, msg.type, msg.payload) == (info.id, info.type, info.payload.raw)
    assert info.id.encode() in conn.lrange(keys.pending(info.queue), 0, -1)


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as conn:
        yield conn


# --- standalone ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_spec",
    [
        pytest.param(lambda url: url, id="url"),
        pytest.param(lambda url: RedisClientOpt(addr=addr_of(url)), id="RedisClientOpt"),
    ],
)
def test_enqueue_on_standalone_redis(
    redis_url: str, redis_conn: redis.Redis, make_spec: Callable[[str], Any]
) -> None:
    with Client(make_spec(redis_url)) as client:
        info = client.enqueue(Task("send_welcome_email", {"user_id": 42}))
        scheduled = client.enqueue(Task("send_reminder_email", {"user_id": 42}), process_in=3600)

    assert info.state is TaskState.PENDING
    assert_pending_on(redis_conn, info)
    assert scheduled.state is TaskState.SCHEDULED
    assert redis_conn.zscore(keys.scheduled("default"), scheduled.id) is not None
    assert redis_conn.smembers(keys.ALL_QUEUES) == {b"default"}


def test_enqueue_through_a_redis_client(redis_url: str, redis_conn: redis.Redis) -> None:
    conn = redis.Redis.from_url(redis_url)
    with Client(conn) as client:
        info = client.enqueue(Task("t", {"n": 1}))
    assert conn.ping()  # the client did not close a connection it was given
    conn.close()
    assert_pending_on(redis_conn, info)


def test_db_number_is_honoured(redis_url: str) -> None:
    addr = addr_of(redis_url)
    with Client(RedisClientOpt(addr=addr, db=3)) as client:
        info = client.enqueue(Task("t"))
    with connect(addr) as db0, redis.Redis.from_url(f"redis://{addr}/3") as db3:
        assert db0.exists(keys.task("default", info.id)) == 0
        assert_pending_on(db3, info)
        db3.flushdb()


# --- unreachable ---------------------------------------------------------------------------------


def test_unreachable_redis_raises_broker_connection_error() -> None:
    addr = f"127.0.0.1:{free_port()}"  # nobody listens there
    client = Client(RedisClientOpt(addr=addr, password=SECRET, connect_timeout=1))

    start = time.monotonic()
    with pytest.raises(BrokerConnectionError) as caught:
        client.enqueue(Task("t"))
    elapsed = time.monotonic() - start

    assert caught.value.address == addr
    assert addr in str(caught.value)
    assert SECRET not in str(caught.value)
    assert elapsed < HANG_GUARD, f"took {elapsed:.1f}s: the connect timeout was not honoured"
    client.close()


def test_unreachable_sentinels_raise_broker_connection_error() -> None:
    sentinels = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    opt = RedisFailoverClientOpt(
        master_name="mymaster", sentinel_addrs=sentinels, password=SECRET, connect_timeout=1
    )
    client = Client(opt)

    start = time.monotonic()
    with pytest.raises(BrokerConnectionError) as caught:
        client.enqueue(Task("t"))
    elapsed = time.monotonic() - start

    message = str(caught.value)
    assert "mymaster" in message and all(s in message for s in sentinels)
    assert SECRET not in message
    assert elapsed < HANG_GUARD, f"took {elapsed:.1f}s: the connect timeout was not honoured"
    client.close()


# --- Sentinel ------------------------------------------------------------------------------------


def test_enqueue_via_sentinel_url_lands_on_the_primary(sentinel_set: SentinelSet, sentinel_url: str) -> None:
    with Client(sentinel_url) as client:
        info = client.enqueue(Task("t", {"n": 1}))
    with connect(sentinel_set.current_primary_addr()) as primary:
        assert_pending_on(primary, info)


def test_same_client_enqueues_after_failover(fresh_sentinel_set: SentinelSet) -> None:
    """The primary is SIGKILLed; after Sentinel promotes the replica the same Client works on.

    Replication is asynchronous: a task acknowledged by the old primary but not yet copied to
    the replica is lost when the primary dies (Go asynq has the same window; Redis' WAIT can
    narrow it). So before the kill the test waits until the replica holds the first task, and
    only then may it require that task on the new primary. Without that wait the first
    assertion would be flaky, not wrong.
    """
    sentinels = fresh_sentinel_set
    opt = RedisFailoverClientOpt(
        master_name=sentinels.master_name, sentinel_addrs=sentinels.sentinel_addrs, connect_timeout=15
    )
    with Client(opt) as client:
        before = client.enqueue(Task("before_failover", {"n": 1}))
        with sentinels.replica.client(socket_timeout=5) as replica:
            wait_for(
                lambda: replica.exists(keys.task("default", before.id)),
                timeout=10,
                what="the replica to receive the first task",
            )

        old_primary = sentinels.kill_primary()
        new_primary = sentinels.wait_for_failover(old_primary, timeout=30)
        assert new_primary != old_primary

        after = client.enqueue(Task("after_failover", {"n": 2}))

    assert after.state is TaskState.PENDING
    with connect(new_primary) as conn:
        assert conn.info("replication")["role"] == "master"
        assert_pending_on(conn, before)
        assert_pending_on(conn, after)
        assert conn.llen(keys.pending("default")) == 2


def test_enqueue_rides_out_a_failover(fresh_sentinel_set: SentinelSet) -> None:
    """An enqueue started right after the primary dies waits for the new one (within its timeout)."""
    sentinels = fresh_sentinel_set
    opt = RedisFailoverClientOpt(
        master_name=sentinels.master_name, sentinel_addrs=sentinels.sentinel_addrs, connect_timeout=15
    )
    with Client(opt) as client:
        client.enqueue(Task("warm_up"))  # the client has a connection to the primary that dies
        old_primary = sentinels.kill_primary()

        during = client.enqueue(Task("during_failover"))

    new_primary = sentinels.wait_for_failover(old_primary, timeout=30)
    with connect(new_primary) as conn:
        assert_pending_on(conn, during)
