"""The conformance suite on a real standalone Redis that the test suite started."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_py

pytest.register_assert_rewrite("asynq.testing.conformance")

from asynq.brokers import Broker, open_broker  # noqa: E402
from asynq.testing.conformance import RedisBrokerConformance  # noqa: E402


class TestRedisBroker(RedisBrokerConformance):
    @pytest.fixture
    def broker(self, redis_url: str) -> Iterator[Broker]:
        broker, _ = open_broker(redis_url)
        yield broker
        broker.close()

    @pytest.fixture
    def redis(self, redis_url: str) -> Iterator[redis_py.Redis]:
        with redis_py.Redis.from_url(redis_url) as client:
            yield client
