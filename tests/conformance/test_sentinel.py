"""The conformance suite on a Redis primary found through Sentinel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_py
from redis.sentinel import Sentinel

pytest.register_assert_rewrite("asynq.testing.conformance")

from asynq.brokers import Broker, RedisFailoverClientOpt, open_broker, parse_url  # noqa: E402
from asynq.testing.conformance import RedisBrokerConformance  # noqa: E402


class TestSentinelBroker(RedisBrokerConformance):
    @pytest.fixture
    def broker(self, sentinel_url: str) -> Iterator[Broker]:
        broker, _ = open_broker(sentinel_url)
        yield broker
        broker.close()

    @pytest.fixture
    def redis(self, sentinel_url: str) -> Iterator[redis_py.Redis]:
        opt = parse_url(sentinel_url)
        assert isinstance(opt, RedisFailoverClientOpt)
        addrs = [(host, int(port)) for host, _, port in (a.rpartition(":") for a in opt.sentinel_addrs)]
        with Sentinel(addrs).master_for(opt.master_name, db=opt.db) as client:
            yield client
