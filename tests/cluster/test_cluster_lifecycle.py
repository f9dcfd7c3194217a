"""ClusterSet starts, serves and stops without leftovers (on a small private cluster)."""

from __future__ import annotations

import os

import pytest

from brokers import ClusterSet
from brokers.errors import BrokerError


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_small_cluster_starts_serves_and_stops_without_leftovers() -> None:
    cluster = ClusterSet(primaries=1, replicas_per_primary=1)
    with cluster:
        nodes = cluster.nodes
        pids = [n.pid for n in nodes]
        directory = nodes[0].directory.parent
        assert [n.addr for n in cluster.primaries()] == cluster.addrs == [nodes[0].addr]
        assert [n.addr for n in cluster.replicas()] == [nodes[1].addr]
        with cluster.client() as client:
            client.set("k{a}", "v")
            assert client.get("k{a}") == b"v"
        cluster.flushall()
        with cluster.client() as client:
            assert client.dbsize() == 0
    assert all(pid is not None and not _process_exists(pid) for pid in pids)
    assert not directory.exists()
    cluster.stop()  # idempotent
    with pytest.raises(BrokerError, match="not started"):
        cluster.url
