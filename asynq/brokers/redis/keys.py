"""Redis key names, exactly as Go asynq v0.26 lays them out (DESIGN §5).

The braces around a queue name are a Redis Cluster hash tag: all keys of one queue live in
one slot, so a Lua script may touch them together.
"""

from __future__ import annotations

import hashlib

ALL_QUEUES = "asynq:queues"
ALL_SERVERS = "asynq:servers"
ALL_WORKERS = "asynq:workers"
CANCEL_CHANNEL = "asynq:cancel"
WAKEUP_CHANNEL = "asynq:wakeup"
"""Ours, not Go's: producers announce new pending work here so idle workers fetch at once."""


def queue_prefix(queue: str) -> str:
    return f"asynq:{{{queue}}}:"


def task_prefix(queue: str) -> str:
    return f"asynq:{{{queue}}}:t:"


def task(queue: str, task_id: str) -> str:
    return f"asynq:{{{queue}}}:t:{task_id}"


def pending(queue: str) -> str:
    return f"asynq:{{{queue}}}:pending"


def active(queue: str) -> str:
    return f"asynq:{{{queue}}}:active"


def lease(queue: str) -> str:
    return f"asynq:{{{queue}}}:lease"


def scheduled(queue: str) -> str:
    return f"asynq:{{{queue}}}:scheduled"


def retry(queue: str) -> str:
    return f"asynq:{{{queue}}}:retry"


def archived(queue: str) -> str:
    return f"asynq:{{{queue}}}:archived"


def completed(queue: str) -> str:
    return f"asynq:{{{queue}}}:completed"


def paused(queue: str) -> str:
    return f"asynq:{{{queue}}}:paused"


def processed_total(queue: str) -> str:
    return f"asynq:{{{queue}}}:processed"


def failed_total(queue: str) -> str:
    return f"asynq:{{{queue}}}:failed"


def processed_on(queue: str, day: str) -> str:
    """Daily counter; ``day`` is a UTC date as YYYY-MM-DD."""
    return f"asynq:{{{queue}}}:processed:{day}"


def failed_on(queue: str, day: str) -> str:
    return f"asynq:{{{queue}}}:failed:{day}"


def unique(queue: str, task_type: str, payload: bytes) -> str:
    digest = hashlib.md5(payload).hexdigest() if payload else ""
    return f"asynq:{{{queue}}}:unique:{task_type}:{digest}"


def server_info(host: str, pid: int, server_id: str) -> str:
    return f"asynq:servers:{{{host}:{pid}:{server_id}}}"


def workers(host: str, pid: int, server_id: str) -> str:
    return f"asynq:workers:{{{host}:{pid}:{server_id}}}"
