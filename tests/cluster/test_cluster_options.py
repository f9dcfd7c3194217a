"""RedisClusterClientOpt and ``redis-cluster://`` URLs: parsing, secrets, lazy connection."""

from __future__ import annotations

import time

import pytest
from redis.cluster import RedisCluster

import asynq
from asynq import BrokerConnectionError, Client, RedisBroker, RedisClusterClientOpt
from asynq.brokers import open_broker
from asynq.brokers.redis.options import parse_url
from brokers import ClusterSet

SECRET = "s3cr3t-cluster-pw"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "redis-cluster://h1:7000,h2:7001",
            RedisClusterClientOpt(addrs=["h1:7000", "h2:7001"]),
            id="two-nodes",
        ),
        pytest.param("redis-cluster://h1:7000/0", RedisClusterClientOpt(addrs=["h1:7000"]), id="db-0"),
        pytest.param(
            f"redis-cluster://alice:{SECRET}@h1:7000,h2:7001,h3:7002?tls=true",
            RedisClusterClientOpt(
                addrs=["h1:7000", "h2:7001", "h3:7002"], username="alice", password=SECRET, tls=True
            ),
            id="acl-user-and-tls",
        ),
        pytest.param(
            "redis-cluster://h1:7000?tls=1&tls_ca_certs=/etc/ca.pem&tls_verify=false",
            RedisClusterClientOpt(addrs=["h1:7000"], tls=True, tls_ca_certs="/etc/ca.pem", tls_verify=False),
            id="tls-options",
        ),
        pytest.param(
            f"redis-cluster://:{SECRET}@h1",
            RedisClusterClientOpt(addrs=["h1"], password=SECRET),
            id="password-default-port",
        ),
    ],
)
def test_parse_cluster_url(url: str, expected: RedisClusterClientOpt) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param(f"redis-cluster://:{SECRET}@h1:7000/1", "only db 0", id="db-1"),
        pytest.param(f"redis-cluster://:{SECRET}@/0", "no host", id="no-host"),
        pytest.param(f"redis-cluster://:{SECRET}@h1:port", "port must be a number", id="bad-port"),
    ],
)
def test_bad_cluster_url(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        Client(url)
    assert SECRET not in str(caught.value)


def test_unknown_scheme_names_redis_cluster() -> None:
    with pytest.raises(ValueError, match="redis-cluster://"):
        parse_url("cluster://h1:7000")


def test_no_addrs() -> None:
    with pytest.raises(ValueError, match="at least one"):
        RedisClusterClientOpt(addrs=[])


def test_exported_from_asynq() -> None:
    assert asynq.RedisClusterClientOpt is RedisClusterClientOpt
    assert "RedisClusterClientOpt" in asynq.__all__


def test_password_is_not_in_repr_and_opening_sends_nothing() -> None:
    opt = RedisClusterClientOpt(addrs=["127.0.0.1:1"], password=SECRET)
    assert SECRET not in repr(opt)
    client = Client(opt)  # lazily connected: no node is reachable, yet nothing fails
    try:
        assert SECRET not in repr(client) and SECRET not in repr(client.broker)
        assert client.broker.address == "cluster 127.0.0.1:1"
    finally:
        client.close()


def test_unreachable_cluster_is_a_bounded_broker_connection_error() -> None:
    broker, owned = open_broker(RedisClusterClientOpt(addrs=["127.0.0.1:1", "127.0.0.1:2"], connect_timeout=0.5))
    assert owned
    started = time.monotonic()
    with pytest.raises(BrokerConnectionError, match="127.0.0.1:1,127.0.0.1:2"):
        broker.ping()
    assert time.monotonic() - started < 3.0
    broker.close()


def test_open_from_url_and_options(cluster_url: str, cluster_set: ClusterSet) -> None:
    for spec in (cluster_url, RedisClusterClientOpt(addrs=cluster_set.addrs)):
        broker, owned = open_broker(spec)
        try:
            assert isinstance(broker, RedisBroker) and owned
            broker.ping()
            assert broker.queues() == []
        finally:
            broker.close()


def test_a_redis_cluster_client_is_used_as_given(cluster_url: str, cluster_client: RedisCluster) -> None:
    broker, owned = open_broker(cluster_client)
    assert isinstance(broker, RedisBroker) and not owned
    assert broker._client is cluster_client
    assert broker.address.startswith("cluster 127.0.0.1:")
    broker.ping()
