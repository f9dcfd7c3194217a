"""Fixtures shared by every test suite: real Redis topologies started through ``brokers/``.

The suite never touches a Redis it did not start, except the one named by
``ASYNQ_TEST_REDIS_URL``, which the user opts into (it is flushed before each test using
it). Where ``redis-server`` is missing, tests that need Redis fail: they never skip
(DESIGN.md §9).

- ``redis_server`` (session): the standalone server; ``redis_url``: its URL, flushed.
- ``fresh_redis_server``: a private AOF-backed server for tests that kill or restart Redis.
- ``sentinel_set`` (session): the shared Sentinel set; ``sentinel_url``: its URL, with the
  current primary flushed.
- ``fresh_sentinel_set``: a private Sentinel set for tests that kill its primary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

import pytest
import redis

import asynq
from brokers import ClusterSet, RedisServer, RedisServerNotFound, SentinelSet, Topology
from testkit import QUICK_WORKER, wait_until

REDIS_URL_ENV = "ASYNQ_TEST_REDIS_URL"

_T = TypeVar("_T", bound=Topology)


@dataclass(frozen=True)
class ExternalRedis:
    """The Redis named by ASYNQ_TEST_REDIS_URL: used as is, never started or stopped."""

    url: str


def _started(topology: _T) -> _T:
    """Start ``topology``, turning a missing redis-server into a test failure."""
    try:
        topology.start()
    except RedisServerNotFound as exc:
        pytest.fail(
            f"{exc}. Tests that need Redis fail rather than skip without it "
            f"(or set {REDIS_URL_ENV} to use a running Redis for standalone tests).",
            pytrace=False,
        )
    return topology


def _flushall(url: str) -> None:
    with redis.Redis.from_url(url) as conn:
        conn.flushall()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | ExternalRedis]:
    """The session's standalone Redis: ours, or the one in ASYNQ_TEST_REDIS_URL if set."""
    url = os.environ.get(REDIS_URL_ENV)
    if url:
        yield ExternalRedis(url)
        return
    server = _started(RedisServer())
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer | ExternalRedis) -> str:
    """The standalone Redis URL, flushed so that each test starts from an empty server."""
    _flushall(redis_server.url)
    return redis_server.url


@pytest.fixture
def fresh_redis_server() -> Iterator[RedisServer]:
    """A private server with AOF (every write fsynced), for tests that kill or restart it."""
    server = _started(RedisServer(appendonly=True))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sentinel_set() -> Iterator[SentinelSet]:
    """The session's Sentinel set. Tests that kill its nodes use ``fresh_sentinel_set``."""
    topology = _started(SentinelSet())
    yield topology
    topology.stop()


@pytest.fixture
def sentinel_url(sentinel_set: SentinelSet) -> str:
    """The shared Sentinel set's URL, with its current primary (and so its replica) flushed."""
    host, port = sentinel_set.current_primary_addr().rsplit(":", 1)
    with redis.Redis(host=host, port=int(port)) as conn:
        conn.flushall()
    return sentinel_set.url


@pytest.fixture
def fresh_sentinel_set() -> Iterator[SentinelSet]:
    """A private Sentinel set, for tests that kill the primary or otherwise break it."""
    topology = _started(SentinelSet())
    yield topology
    topology.stop()


# --- Redis Cluster ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def cluster_set() -> Iterator[ClusterSet]:
    """The session's Redis Cluster (3 primaries, 3 replicas). Tests that kill nodes use
    ``fresh_cluster_set``; a test that fails the shared one over must leave it ready."""
    topology = _started(ClusterSet())
    yield topology
    topology.stop()


@pytest.fixture
def cluster_url(cluster_set: ClusterSet) -> str:
    """The shared cluster's ``redis-cluster://`` URL, with every current primary flushed."""
    cluster_set.flushall()
    return cluster_set.url


@pytest.fixture
def fresh_cluster_set() -> Iterator[ClusterSet]:
    """A private Redis Cluster, for tests that kill or fail over its nodes."""
    topology = _started(ClusterSet())
    yield topology
    topology.stop()


# --- Workers for the security and bad-input tests --------------------------------------------

@pytest.fixture
def start_background() -> Iterator[Callable[..., asynq.Background]]:
    """``start_background(broker, handler, **config)``: a running Background with quick
    intervals; every one started is shut down at teardown."""
    started: list[asynq.Background] = []

    def start(broker: Any, handler: Any, **config: Any) -> asynq.Background:
        bg = asynq.Background(broker, asynq.Config(**{**QUICK_WORKER, **config}))
        started.append(bg)
        bg.start(handler)
        return bg

    yield start
    for bg in reversed(started):
        bg.shutdown()


@pytest.fixture
def eventually() -> Callable[..., Any]:
    """``eventually(predicate, timeout=5.0, what="...")``: the first truthy value of
    ``predicate()``, polled until a deadline; the test fails if the deadline passes."""
    return wait_until
