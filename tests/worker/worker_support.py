"""Helpers for the worker tests (imported by name: this basename is unique in the repo).

Nothing here sleeps for correctness: tests wait on conditions with a deadline
(:func:`wait_until`) or on events/barriers with timeouts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster

import asynq
from asynq.brokers.base import TaskMessage
from asynq.brokers.redis import codec, keys
from testkit import QUICK_WORKER, wait_until

__all__ = ["Env", "FAST", "wait_until"]  # wait_until is re-exported for the worker tests

T = TypeVar("T")

FAST = QUICK_WORKER


def _asynq_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("asynq-") and t.is_alive()]


class Env:
    """One broker (a URL both the client and the worker open) and a raw view of its storage."""

    def __init__(self, kind: str, url: str, raw: Any) -> None:
        self.kind = kind
        self.url = url
        self.raw = raw
        self.client = asynq.Client(url)
        self._servers: list[asynq.Background] = []
        self._cleanups: list[Callable[[], object]] = []

    # --- running a worker ------------------------------------------------------------------

    def config(self, **overrides: Any) -> asynq.Config:
        return asynq.Config(**{**FAST, **overrides})

    def start(self, handler: Any, broker: Any = None, **config: Any) -> asynq.Background:
        """Start a Background on this env (or on ``broker``), shut down at teardown."""
        bg = asynq.Background(self.url if broker is None else broker, self.config(**config))
        self._servers.append(bg)
        bg.start(handler)
        return bg

    def add_cleanup(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` at teardown, after every worker is shut down (e.g. close a broker they use)."""
        self._cleanups.append(fn)

    def close(self) -> None:
        for bg in self._servers:
            bg.shutdown()
        for fn in self._cleanups:
            fn()
        self.client.close()

    # --- looking at what is stored ---------------------------------------------------------

    def message(self, queue: str, task_id: str) -> TaskMessage:
        return codec.decode_task(self.raw.hget(keys.task(queue, task_id), "msg"))

    def state(self, queue: str, task_id: str) -> str | None:
        value = self.raw.hget(keys.task(queue, task_id), "state")
        return value.decode() if value is not None else None

    def ids(self, key: str) -> list[str]:
        """The members of a list or sorted set, in stored order."""
        if self.raw.type(key) == b"list":
            return [m.decode() for m in self.raw.lrange(key, 0, -1)]
        return [m.decode() for m in self.raw.zrange(key, 0, -1)]

    def score(self, key: str, task_id: str) -> float | None:
        return self.raw.zscore(key, task_id)

    def counter(self, key: str) -> int:
        return int(self.raw.get(key) or 0)

    def processed(self, queue: str = "default") -> int:
        return self.counter(keys.processed_total(queue))

    def failed(self, queue: str = "default") -> int:
        return self.counter(keys.failed_total(queue))

    def exists(self, queue: str, task_id: str) -> bool:
        return bool(self.raw.exists(keys.task(queue, task_id)))


def _redis_env(url: str) -> Env:
    return Env("redis", url, redis.Redis.from_url(url))


def _cluster_env(url: str) -> Env:
    addrs = url.removeprefix("redis-cluster://").split(",")
    nodes = [ClusterNode(host, int(port)) for host, port in (a.rsplit(":", 1) for a in addrs)]
    return Env("cluster", url, RedisCluster(startup_nodes=nodes))
