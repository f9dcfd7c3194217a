"""Fixtures of the inspector tests: each test runs on the memory broker and on a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis
from inspector_world import World, seed

from asynq import Client, Inspector, MemoryBroker
from asynq.brokers import open_broker
from asynq.brokers.base import Broker
from asynq.testing import FakeClock


@pytest.fixture(params=["memory", "redis"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    if request.param == "memory":
        b: Broker = MemoryBroker()
    else:
        b, _ = open_broker(request.getfixturevalue("redis_url"))
    yield b
    b.close()


@pytest.fixture
def db(broker: Broker, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A raw connection to the broker's storage, to look at keys directly."""
    if isinstance(broker, MemoryBroker):
        yield fakeredis.FakeRedis(server=broker.server)
        return
    with redis.Redis.from_url(request.getfixturevalue("redis_url")) as conn:
        yield conn


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(broker: Broker, clock: FakeClock) -> Client:
    return Client(broker, clock=clock)


@pytest.fixture
def inspector(broker: Broker, clock: FakeClock) -> Inspector:
    return Inspector(broker, clock=clock)


@pytest.fixture
def world(client: Client, broker: Broker, clock: FakeClock) -> World:
    return seed(client, broker, clock)
