"""asynq: simple, reliable background tasks on Redis, wire-compatible with Go asynq.

Everything public is re-exported here; the submodules are private.
"""

from asynq.brokers import BrokerSpec
from asynq.brokers.base import Broker
from asynq.brokers.memory import MemoryBroker
from asynq.brokers.redis.broker import RedisBroker
from asynq.brokers.redis.options import RedisClientOpt, RedisFailoverClientOpt
from asynq.client import Client
from asynq.clock import Clock, SystemClock
from asynq.errors import (
    AsynqError,
    BrokerConnectionError,
    DuplicateTaskError,
    EnqueueManyError,
    PayloadError,
    QueueNotEmptyError,
    QueueNotFoundError,
    TaskIDConflictError,
    TaskNotFoundError,
    TaskStateError,
)
from asynq.payload import Payload
from asynq.task import Task, TaskInfo, TaskState

__all__ = [
    "AsynqError",
    "Broker",
    "BrokerConnectionError",
    "BrokerSpec",
    "Client",
    "Clock",
    "DuplicateTaskError",
    "EnqueueManyError",
    "MemoryBroker",
    "Payload",
    "PayloadError",
    "QueueNotEmptyError",
    "QueueNotFoundError",
    "RedisBroker",
    "RedisClientOpt",
    "RedisFailoverClientOpt",
    "SystemClock",
    "Task",
    "TaskIDConflictError",
    "TaskInfo",
    "TaskNotFoundError",
    "TaskState",
    "TaskStateError",
]
