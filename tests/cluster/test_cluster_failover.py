"""A primary of the shared cluster crashes (SIGKILL): the broker rides out the election and
carries on with the promoted replica; the node then comes back as a replica."""

from __future__ import annotations

import time

from cluster_support import wait_until

from asynq import RedisClusterClientOpt
from asynq.brokers.base import EnqueueRequest, TaskMessage, TaskState
from asynq.brokers.redis import keys
from brokers import ClusterSet
from brokers.server import PROBE_OPTIONS

NOW = 1_800_000_000.0


def _request(task_id: str, queue: str) -> EnqueueRequest:
    return EnqueueRequest(TaskMessage(type="t", payload=b"{}", id=task_id, queue=queue, retry=3, timeout=60))


def _on_replica(cluster_set: ClusterSet, primary_addr: str, key: str) -> bool:
    """Whether every replica of the primary at ``primary_addr`` has ``key`` (replication is async)."""
    view = cluster_set.nodes[0].cluster_nodes()
    primary_id = next(n["id"] for n in view if n["addr"] == primary_addr)
    replicas = [n["addr"] for n in view if n["master"] == primary_id]
    for node in cluster_set.nodes:
        if node.addr in replicas:
            with node.client(**PROBE_OPTIONS) as conn:
                conn.execute_command("READONLY")
                if not conn.exists(key):
                    return False
    return bool(replicas)


def test_primary_crash_is_ridden_out(cluster_url: str, cluster_set: ClusterSet) -> None:
    queue, other = "low", "reports"
    broker = RedisClusterClientOpt(addrs=cluster_set.addrs, connect_timeout=20).open()
    old = cluster_set.primary_for_key(keys.pending(queue))
    assert cluster_set.primary_for_key(keys.pending(other)) is not old
    try:
        assert broker.enqueue(_request("before", queue), now=NOW) is TaskState.PENDING
        wait_until(lambda: _on_replica(cluster_set, old.addr, keys.task(queue, "before")),
                   what="the task to reach the replica")
        cluster_set.kill(old)
        started = time.monotonic()
        # Blocks (retrying) while the cluster is down: CLUSTERDOWN on every node, then the
        # dead primary refuses connections until its replica is elected.
        assert broker.enqueue(_request("during", queue), now=NOW) is TaskState.PENDING
        assert broker.enqueue(_request("other", other), now=NOW) is TaskState.PENDING
        promoted = cluster_set.wait_for_failover(old)
        assert time.monotonic() - started < 20
        assert cluster_set.primary_for_key(keys.pending(queue)) is promoted
        leases = broker.dequeue([queue, other], 5, now=NOW, lease_until=NOW + 30)
        assert [held.message.id for held in leases] == ["before", "during", "other"]
        assert all(broker.succeed(held, now=NOW) for held in leases)
    finally:
        broker.close()
        if not old.is_running:
            cluster_set.restart(old)
    roles = {n["addr"]: n["flags"] for n in cluster_set.nodes[0].cluster_nodes()}
    assert "slave" in roles[old.addr]
