"""The local cluster itself, and what RedisBroker relies on in it: slots, scripts, failover."""

from __future__ import annotations

import pytest
import redis
from cluster_support import SPREAD_QUEUES, primary_addr_of_queue
from redis.cluster import RedisCluster

from asynq.brokers.base import EnqueueRequest, TaskMessage, TaskState
from asynq.brokers.redis import keys, scripts
from asynq.brokers.redis.broker import RedisBroker
from brokers import ClusterSet
from brokers.cluster import SLOTS
from brokers.server import PROBE_OPTIONS

NOW = 1_800_000_000.0


def _request(task_id: str, queue: str) -> EnqueueRequest:
    return EnqueueRequest(TaskMessage(type="t", payload=b"{}", id=task_id, queue=queue, retry=3, timeout=60))


def test_three_primaries_three_replicas(cluster_set: ClusterSet) -> None:
    primaries, replicas = cluster_set.primaries(), cluster_set.replicas()
    assert len(primaries) == 3 and len(replicas) == 3
    assert {n.addr for n in primaries} | {n.addr for n in replicas} == {n.addr for n in cluster_set.nodes}
    assert cluster_set.url == "redis-cluster://" + ",".join(cluster_set.addrs)
    assert len(cluster_set.addrs) == 3
    ports = [n.port for n in cluster_set.nodes] + [n.bus_port for n in cluster_set.nodes]
    assert len(set(ports)) == len(ports)  # client and bus ports all distinct
    for node in cluster_set.nodes:
        info = node.cluster_info()
        assert (info["cluster_state"], info["cluster_slots_ok"], info["cluster_known_nodes"]) == (
            "ok", str(SLOTS), "6",
        )
    # every primary has a replica in sync
    view = cluster_set.nodes[0].cluster_nodes()
    primary_ids = {n["id"] for n in view if "master" in n["flags"] and n["slots"]}
    assert {n["master"] for n in view if "slave" in n["flags"]} == primary_ids
    assert set(cluster_set.describe()) == {"url", "primaries", "replicas"}


def test_queues_hash_to_different_primaries(cluster_set: ClusterSet) -> None:
    slots = {q: cluster_set.keyslot(keys.pending(q)) for q in SPREAD_QUEUES}
    assert len(set(slots.values())) == 3, slots
    assert len({primary_addr_of_queue(cluster_set, q) for q in SPREAD_QUEUES}) == 3
    # every key of a queue shares its slot (the hash tag): one script can touch them all
    for q in SPREAD_QUEUES:
        same = [keys.task(q, "x"), keys.active(q), keys.lease(q), keys.retry(q), keys.unique(q, "t", b"p")]
        assert {cluster_set.keyslot(k) for k in same} == {slots[q]}


def test_scripts_are_loaded_on_every_primary(cluster_set: ClusterSet, cluster_broker: RedisBroker) -> None:
    cluster_broker._scripts_loaded = False
    cluster_broker.ping()  # the first operation loads the scripts
    shas = list(scripts._SHAS.values())
    for node in cluster_set.primaries():
        with node.client(**PROBE_OPTIONS) as conn:
            assert all(conn.script_exists(*shas)), node


def test_noscript_is_reloaded(cluster_set: ClusterSet, cluster_broker: RedisBroker, raw: RedisCluster) -> None:
    """A primary that lost its script cache (restart, failover) answers NOSCRIPT; the broker
    reloads the scripts and runs the call again."""
    assert cluster_broker.enqueue(_request("before", "low"), now=NOW) is TaskState.PENDING
    for node in cluster_set.primaries():
        with node.client(**PROBE_OPTIONS) as conn:
            conn.script_flush()
    # a pipeline of scripts on several nodes, then single calls
    results = cluster_broker.enqueue_many([_request(f"t{q}", q) for q in SPREAD_QUEUES], now=NOW)
    assert results == [TaskState.PENDING] * 3
    leases = cluster_broker.dequeue(["low"], 2, now=NOW, lease_until=NOW + 30)
    assert [held.message.id for held in leases] == ["before", "tlow"]
    assert raw.smembers(keys.ALL_QUEUES) == {q.encode() for q in SPREAD_QUEUES}


def test_work_goes_on_across_a_failover(cluster_set: ClusterSet, cluster_broker: RedisBroker) -> None:
    """CLUSTER FAILOVER moves a queue's slot to the replica: the client follows the MOVED
    reply and the new primary, which never saw SCRIPT LOAD, gets the scripts on NOSCRIPT."""
    queue = "reports"
    old = cluster_set.primary_for_key(keys.pending(queue))
    assert cluster_broker.enqueue(_request("r1", queue), now=NOW) is TaskState.PENDING
    promoted = cluster_set.failover(old)
    assert cluster_set.primary_for_key(keys.pending(queue)) is promoted
    with promoted.client(**PROBE_OPTIONS) as conn:  # Redis 7 does not replicate SCRIPT LOAD
        assert not any(conn.script_exists(*scripts._SHAS.values()))
    assert cluster_broker.enqueue(_request("r2", queue), now=NOW) is TaskState.PENDING
    leases = cluster_broker.dequeue([queue], 5, now=NOW, lease_until=NOW + 30)
    assert [held.message.id for held in leases] == ["r1", "r2"]
    assert all(cluster_broker.succeed(held, now=NOW) for held in leases)
    with promoted.client(**PROBE_OPTIONS) as conn:
        assert int(conn.get(keys.processed_total(queue))) == 2
    with old.client(**PROBE_OPTIONS) as conn:  # now a replica of the promoted node
        assert conn.info("replication")["role"] == "slave"
        with pytest.raises(redis.exceptions.MovedError):
            conn.get(keys.processed_total(queue))
