"""The conformance suite on a real Redis Cluster (3 primaries, 3 replicas).

The broker is opened from the cluster's ``redis-cluster://`` URL. The suite's queues and
global keys live on different primaries ({default} and {critical} on one, {low} on another,
asynq:queues on the third), so its pipelines mix nodes and its whole-database snapshots scan
every primary.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from redis.cluster import RedisCluster

pytest.register_assert_rewrite("asynq.testing.conformance")

from asynq.brokers import Broker  # noqa: E402
from asynq.brokers.redis import keys  # noqa: E402
from asynq.brokers.redis.broker import RedisBroker  # noqa: E402
from asynq.testing.conformance import CRITICAL, LOW, Q, RedisBrokerConformance  # noqa: E402
from brokers import ClusterSet  # noqa: E402


class TestClusterBroker(RedisBrokerConformance):
    @pytest.fixture
    def broker(self, cluster_broker: RedisBroker) -> Broker:
        return cluster_broker

    @pytest.fixture
    def redis(self, raw: RedisCluster) -> RedisCluster:
        return raw

    @pytest.fixture
    def make_broker(self, raw: RedisCluster) -> Callable[..., Broker]:
        return lambda **options: RedisBroker(raw, address="conformance-cluster", **options)


def test_the_suite_spans_primaries(cluster_set: ClusterSet) -> None:
    """Guard the premise above: the suite's keys are not all served by one node."""
    nodes = {
        cluster_set.primary_for_key(key).addr
        for key in (keys.pending(Q), keys.pending(CRITICAL), keys.pending(LOW), keys.ALL_QUEUES)
    }
    assert len(nodes) >= 2, nodes
