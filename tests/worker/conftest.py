"""Fixtures for the worker tests: a running Background on real Redis or the memory broker.

Every Background a test starts is shut down at teardown, and the teardown checks that none
of its threads are left. The helpers live in ``worker_support`` (a unique module name, so
tests never pick up another directory's ``conftest``).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import fakeredis
import pytest

from asynq.brokers.memory import _server_named
from worker_support import Env, _asynq_threads, _cluster_env, _redis_env, wait_until


def _teardown(env: Env, threads_before: set[threading.Thread]) -> None:
    env.close()
    # Every thread a Background started ends with its shutdown (a hung handler's thread ends
    # when its interrupt lands, which for these tests' handlers is within a fraction of a second).
    wait_until(
        lambda: not [t for t in _asynq_threads() if t not in threads_before],
        timeout=5.0,
        what="the worker's threads to end after shutdown",
    )


@pytest.fixture(params=["redis", "cluster", "memory"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """A broker URL: the real Redis or Redis Cluster (flushed), or a fresh ``memory://<name>``."""
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    if request.param == "cluster":
        return request.getfixturevalue("cluster_url")
    return f"memory://worker-test-{uuid.uuid4().hex}"


@pytest.fixture
def env(broker_url: str) -> Iterator[Env]:
    """A worker environment on each broker: real Redis and the memory broker."""
    before = set(_asynq_threads())
    if broker_url.startswith("memory://"):
        name = broker_url.removeprefix("memory://")
        e = Env("memory", broker_url, fakeredis.FakeRedis(server=_server_named(name)))
    elif broker_url.startswith("redis-cluster://"):
        e = _cluster_env(broker_url)
    else:
        e = _redis_env(broker_url)
    yield e
    _teardown(e, before)
