"""MemoryBroker: the Redis broker's own code over an in-process fakeredis server."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import fakeredis

from asynq.brokers.base import EnqueueRequest, TaskState
from asynq.brokers.redis.broker import RedisBroker
from asynq.errors import ReplicationError

_named_servers: dict[str, fakeredis.FakeServer] = {}
_named_lock = threading.Lock()


def _server_named(name: str) -> fakeredis.FakeServer:
    with _named_lock:
        return _named_servers.setdefault(name, fakeredis.FakeServer())


class MemoryBroker(RedisBroker):
    """A broker that needs no server: for unit tests and trying asynq out.

    It runs the same Lua scripts as :class:`RedisBroker`. Brokers built on the same
    ``server`` (or the same ``memory://name`` URL) see the same tasks, so a producer and a
    worker in one process can talk to each other. ``MemoryBroker()`` has a server of its own.
    """

    def __init__(self, server: fakeredis.FakeServer | None = None, **broker_options: Any) -> None:
        self.server = server if server is not None else fakeredis.FakeServer()
        client = fakeredis.FakeRedis(server=self.server)
        super().__init__(client, address="memory", **broker_options)

    @classmethod
    def named(cls, name: str, **broker_options: Any) -> MemoryBroker:
        """A broker on the process-wide server called ``name`` (``memory://name``)."""
        return cls(_server_named(name), **broker_options)

    def enqueue_many(
        self, requests: Sequence[EnqueueRequest], *, now: float, replicas: int = 0, replica_timeout: float = 1.0
    ) -> list[TaskState | Exception]:
        outcomes = super().enqueue_many(requests, now=now)
        if replicas > 0 and requests:
            # An in-process server has no replicas: a durable enqueue can never be confirmed.
            raise ReplicationError(self.address, 0, replicas, replica_timeout, outcomes)
        return outcomes
