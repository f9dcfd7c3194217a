"""Helpers shared by the Redis Cluster tests (imported by name: tests/cluster is on sys.path)."""

from __future__ import annotations

from typing import Any

from asynq.brokers.redis import keys
from brokers import ClusterSet
from testkit import QUICK_WORKER, wait_until

__all__ = ["FAST", "SPREAD_QUEUES", "primary_addr_of_queue", "wait_until"]

SPREAD_QUEUES = {"critical": 6, "reports": 3, "low": 1}
"""Queue name -> weight. With the slots split evenly over three primaries, their hash tags
land on three different primaries ({reports}: 5152, {critical}: 8090, {low}: 15214)."""

FAST: dict[str, Any] = {**QUICK_WORKER, "concurrency": 4}


def primary_addr_of_queue(cluster: ClusterSet, queue: str) -> str:
    """The address of the primary that serves every key of ``queue`` right now."""
    return cluster.primary_for_key(keys.pending(queue)).addr
