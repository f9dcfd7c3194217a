"""Brokers: the protocol (:mod:`.base`), Redis, and the in-memory broker."""

from __future__ import annotations

from typing import Any, Union

# Aliased: the subpackage asynq.brokers.redis rebinds the name "redis" in this module.
import redis as redis_py
from redis.cluster import RedisCluster

from asynq.brokers.base import Broker
from asynq.brokers.memory import MemoryBroker
from asynq.brokers.redis.broker import RedisBroker
from asynq.brokers.redis.options import (
    RedisClientOpt,
    RedisClusterClientOpt,
    RedisFailoverClientOpt,
    parse_url,
)

BrokerSpec = Union[
    Broker, RedisClientOpt, RedisFailoverClientOpt, RedisClusterClientOpt, str, redis_py.Redis, RedisCluster
]
"""Anything accepted where asynq asks for a broker."""


def open_broker(spec: BrokerSpec, **broker_options: Any) -> tuple[Broker, bool]:
    """Return the broker ``spec`` names, and whether the caller owns (and must close) it."""
    if isinstance(spec, Broker):
        return spec, False
    if isinstance(spec, str):
        if spec.startswith("memory://"):
            return MemoryBroker.named(spec.removeprefix("memory://"), **broker_options), True
        spec = parse_url(spec)
    if isinstance(spec, (RedisClientOpt, RedisFailoverClientOpt, RedisClusterClientOpt)):
        return spec.open(**broker_options), True
    if isinstance(spec, redis_py.Redis):
        kwargs = spec.get_connection_kwargs()
        address = f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        return RedisBroker(spec, address=address, **broker_options), False
    if isinstance(spec, RedisCluster):
        address = "cluster " + ",".join(node.name for node in spec.get_primaries())
        return RedisBroker(spec, address=address, **broker_options), False
    raise TypeError(
        "broker must be a Broker, RedisClientOpt, RedisFailoverClientOpt, RedisClusterClientOpt, "
        f"a URL string, a redis.Redis or redis.cluster.RedisCluster client, not {type(spec).__name__}"
    )
