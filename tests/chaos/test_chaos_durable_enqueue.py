"""Durable enqueue: ``replicas=N`` returns only once N replicas hold the task (Redis WAIT in the
same round trip), and raises ReplicationError, with the task stored on the primary, when they
don't confirm it in time. Run on the Sentinel set (primary + 1 replica) and on Redis Cluster."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from chaos_support import replica_of

import asynq
from asynq.brokers.redis import keys
from brokers import ClusterSet, RedisServer, SentinelSet


def _nodes(sentinels: SentinelSet) -> tuple[RedisServer, RedisServer]:
    """(primary, replica) as the Sentinels see them now."""
    primary_addr = sentinels.current_primary_addr()
    nodes = (sentinels.primary, sentinels.replica)
    (primary,) = [n for n in nodes if n.addr == primary_addr]
    return primary, replica_of(primary_addr, nodes)


@contextlib.contextmanager
def stopped(node: RedisServer) -> Iterator[None]:
    """SIGSTOP ``node`` (it stops acknowledging replication) and SIGCONT it on exit.

    Kept well under the Sentinels' down-after time (1 s) so that they see nothing."""
    assert node.pid is not None
    os.kill(node.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(node.pid, signal.SIGCONT)


def _has(conn: redis.Redis, info: asynq.TaskInfo) -> bool:
    return bool(conn.exists(keys.task(info.queue, info.id)))


def test_durable_enqueue_returns_once_the_replica_holds_the_task(sentinel_set: SentinelSet, sentinel_url: str) -> None:
    primary, replica = _nodes(sentinel_set)
    with asynq.Client(sentinel_url, replicas=1) as client, replica.client() as on_replica:
        for n in range(50):
            info = client.enqueue(asynq.Task("durable", {"n": n}))
            # Read right after enqueue returned: no waiting, no polling.
            assert on_replica.hget(keys.task("default", info.id), "state") == b"pending"
        infos = client.enqueue_many([asynq.Task("durable_batch", {"n": n}) for n in range(200)])
        pipe = on_replica.pipeline(transaction=False)
        for info in infos:
            pipe.exists(keys.task(info.queue, info.id))
        assert all(pipe.execute())


def test_durable_enqueue_waits_for_a_slow_replica(sentinel_set: SentinelSet, sentinel_url: str) -> None:
    """With the replica frozen for 0.4 s the enqueue returns only after it caught up."""
    primary, replica = _nodes(sentinel_set)
    with asynq.Client(sentinel_url, replicas=1, replica_timeout=5) as client, replica.client() as on_replica:
        client.enqueue(asynq.Task("warm_up"))  # connection and scripts ready
        with stopped(replica):
            threading.Timer(0.4, os.kill, (replica.pid, signal.SIGCONT)).start()
            started = time.monotonic()
            info = client.enqueue(asynq.Task("durable"))
            took = time.monotonic() - started
        assert _has(on_replica, info)
        assert 0.35 <= took < 5, took


def test_durable_enqueue_raises_when_the_replica_does_not_confirm(sentinel_set: SentinelSet, sentinel_url: str) -> None:
    primary, replica = _nodes(sentinel_set)
    with asynq.Client(sentinel_url) as client, primary.client() as on_primary, replica.client() as on_replica:
        client.enqueue(asynq.Task("warm_up"))
        with stopped(replica):
            started = time.monotonic()
            with pytest.raises(asynq.ReplicationError) as caught:
                client.enqueue(asynq.Task("durable", {"n": 1}), task_id="t-1", replicas=1, replica_timeout=0.3)
            took = time.monotonic() - started
            with pytest.raises(asynq.ReplicationError) as caught_many:
                client.enqueue_many([asynq.Task("durable", {"n": n}) for n in range(3)], replicas=1, replica_timeout=0.2)
        error = caught.value
        assert (error.acked, error.wanted, error.timeout) == (0, 1, 0.3)
        assert "0 of the 1 replica(s)" in str(error) and "ARE stored on the primary" in str(error)
        assert 0.3 <= took < 2.0, took
        # The task is stored (on the primary) and will run; the error only says it isn't replicated yet.
        (info,) = error.results
        assert info.id == "t-1" and info.state is asynq.TaskState.PENDING
        assert on_primary.hget(keys.task("default", "t-1"), "state") == b"pending"
        assert [i.state for i in caught_many.value.results] == [asynq.TaskState.PENDING] * 3
        assert all(_has(on_primary, i) for i in caught_many.value.results)

        # Enqueueing the same task again (same ID) is accepted and waits for the replica again.
        again = client.enqueue(asynq.Task("durable", {"n": 1}), task_id="t-1", replicas=1, replica_timeout=5)
        assert again.id == "t-1" and _has(on_replica, again)
        assert on_primary.llen(keys.pending("default")) == 5  # warm_up, t-1 once, the batch of 3


def test_a_retried_durable_enqueue_on_another_connection_still_waits(sentinel_set: SentinelSet, sentinel_url: str) -> None:
    """A retry (after a broken connection) runs on a fresh connection and finds the task already
    stored, so it writes nothing. Its WAIT must still wait for the replicas to hold the task:
    Redis waits for the replication offset as of the connection's last command, write or not
    (not only for the connection's own writes), so it covers the first attempt's write."""
    primary, replica = _nodes(sentinel_set)
    with asynq.Client(sentinel_url) as first, asynq.Client(sentinel_url) as second:
        # The replica has acknowledged everything `second` wrote so far.
        second.enqueue(asynq.Task("warm_up"), replicas=1, replica_timeout=5)
        with stopped(replica):
            first.enqueue(asynq.Task("durable"), task_id="t-2")  # stored, not replicated yet
            with pytest.raises(asynq.ReplicationError) as caught:
                second.enqueue(asynq.Task("durable"), task_id="t-2", replicas=1, replica_timeout=0.3)
        assert caught.value.acked == 0


def test_more_replicas_than_exist_is_a_replication_error(sentinel_url: str) -> None:
    with asynq.Client(sentinel_url, replicas=2, replica_timeout=0.2) as client:
        with pytest.raises(asynq.ReplicationError) as caught:
            client.enqueue(asynq.Task("durable"))
    assert (caught.value.acked, caught.value.wanted) == (1, 2)


def test_a_duplicate_is_reported_as_such_by_a_durable_enqueue(sentinel_url: str) -> None:
    with asynq.Client(sentinel_url, replicas=1) as client:
        client.enqueue(asynq.Task("once"), unique=60)
        with pytest.raises(asynq.DuplicateTaskError):
            client.enqueue(asynq.Task("once"), unique=60)
        with pytest.raises(asynq.DuplicateTaskError):  # nothing stored: not a ReplicationError
            client.enqueue(asynq.Task("once"), unique=60, replicas=5, replica_timeout=0.1)


def test_memory_broker_has_no_replicas() -> None:
    broker = asynq.MemoryBroker()
    with asynq.Client(broker, replicas=1) as client:
        with pytest.raises(asynq.ReplicationError) as caught:
            client.enqueue(asynq.Task("durable"))
        assert caught.value.acked == 0
        assert client.enqueue(asynq.Task("not_durable"), replicas=0).state is asynq.TaskState.PENDING
    assert broker.queue_stats("default", now=time.time()).sizes[asynq.TaskState.PENDING] == 2


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"replicas": -1}, ValueError),
        ({"replicas": 1.5}, TypeError),
        ({"replicas": True}, TypeError),
        ({"replicas": 1, "replica_timeout": 0}, ValueError),
        ({"replicas": 1, "replica_timeout": -1}, ValueError),
        ({"replicas": 1, "replica_timeout": "1"}, TypeError),
    ],
)
def test_bad_durability_options(options: dict, error: type[Exception]) -> None:
    with pytest.raises(error, match="replica"):
        asynq.Client("memory://durable-options", **options)
    with asynq.Client("memory://durable-options") as client:
        with pytest.raises(error, match="replica"):
            client.enqueue(asynq.Task("t"), **options)
        with pytest.raises(error, match="replica"):
            client.enqueue_many([asynq.Task("t")], **options)


def _replica_serving(cluster: ClusterSet, key: str) -> RedisServer:
    primary = cluster.primary_for_key(key)
    for node in cluster.replicas():
        with node.client() as conn:
            if conn.info("replication").get("master_port") == primary.port:
                return node
    raise AssertionError(f"no replica of {primary!r}")


def test_durable_enqueue_on_cluster_waits_on_each_queues_node(cluster_set: ClusterSet, cluster_url: str) -> None:
    """Queues on three different primaries: each WAIT goes to the node that took the writes."""
    queues = ["critical", "reports", "low"]  # hash tags on three different primaries
    assert len({cluster_set.primary_for_key(keys.pending(q)).addr for q in queues}) == 3
    with asynq.Client(cluster_url, replicas=1, replica_timeout=5) as client:
        infos = [client.enqueue(asynq.Task("durable"), queue=q) for q in queues]
        infos += [i for q in queues for i in client.enqueue_many([asynq.Task("batch")] * 20, queue=q)]
        for info in infos:
            with _replica_serving(cluster_set, keys.task(info.queue, info.id)).client() as on_replica:
                on_replica.execute_command("READONLY")
                assert _has(on_replica, info), info
        with pytest.raises(asynq.ReplicationError) as caught:
            client.enqueue(asynq.Task("durable"), queue="low", replicas=2, replica_timeout=0.2)
        assert caught.value.acked == 1
