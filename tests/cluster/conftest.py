"""Fixtures of the Redis Cluster tests, on the session's ClusterSet (tests/conftest.py).

Building a redis-py cluster client costs tens of milliseconds (it reads the slot table and
the server's command table), so the raw client and the conformance broker are built once per
session; every test still starts from flushed primaries (``cluster_url``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis.cluster import RedisCluster

from asynq.brokers import open_broker
from asynq.brokers.redis.broker import RedisBroker
from brokers import ClusterSet


@pytest.fixture(scope="session")
def cluster_client(cluster_set: ClusterSet) -> Iterator[RedisCluster]:
    """A raw redis-py cluster client (bytes replies), to seed and read keys on any node."""
    client = cluster_set.client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def session_cluster_broker(cluster_set: ClusterSet) -> Iterator[RedisBroker]:
    broker, _ = open_broker(cluster_set.url)
    assert isinstance(broker, RedisBroker)
    yield broker
    broker.close()


@pytest.fixture
def raw(cluster_url: str, cluster_client: RedisCluster) -> RedisCluster:
    """The raw cluster client, on flushed primaries."""
    return cluster_client


@pytest.fixture
def cluster_broker(cluster_url: str, session_cluster_broker: RedisBroker) -> RedisBroker:
    """A broker opened from the ``redis-cluster://`` URL, on flushed primaries."""
    return session_cluster_broker
