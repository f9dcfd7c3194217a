"""The conformance suite on MemoryBroker: the Redis broker's scripts over fakeredis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.register_assert_rewrite("asynq.testing.conformance")

from asynq.brokers import MemoryBroker  # noqa: E402
from asynq.testing.conformance import RedisBrokerConformance  # noqa: E402


class TestMemoryBroker(RedisBrokerConformance):
    @pytest.fixture
    def broker(self) -> Iterator[MemoryBroker]:
        broker = MemoryBroker()
        yield broker
        broker.close()

    @pytest.fixture
    def redis(self, broker: MemoryBroker) -> Any:
        return broker._client
