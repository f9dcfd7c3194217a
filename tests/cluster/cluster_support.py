"""Helpers shared by the Redis Cluster tests (imported by name: tests/cluster is on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from asynq.brokers.redis import keys
from brokers import ClusterSet

T = TypeVar("T")

SPREAD_QUEUES = {"critical": 6, "reports": 3, "low": 1}
"""Queue name -> weight. With the slots split evenly over three primaries, their hash tags
land on three different primaries ({reports}: 5152, {critical}: 8090, {low}: 15214)."""

FAST: dict[str, Any] = dict(
    concurrency=4,
    shutdown_timeout=2.0,
    lease_duration=5.0,
    heartbeat_interval=0.2,
    forward_interval=0.1,
    recover_interval=0.2,
    janitor_interval=0.2,
    sync_interval=0.1,
    idle_poll_interval=0.1,
    health_check_interval=0.1,
)
"""Config values that keep the worker tests fast; a test overrides what it exercises."""


def wait_until(predicate: Callable[[], T], timeout: float = 5.0, what: str = "", interval: float = 0.01) -> T:
    """Return the first truthy value of ``predicate()``; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def primary_addr_of_queue(cluster: ClusterSet, queue: str) -> str:
    """The address of the primary that serves every key of ``queue`` right now."""
    return cluster.primary_for_key(keys.pending(queue)).addr
