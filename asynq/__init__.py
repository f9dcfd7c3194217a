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
from asynq.config import Config
from asynq.errors import (
    AsynqError,
    BrokerConnectionError,
    DuplicateTaskError,
    EnqueueManyError,
    NoHandlerError,
    PayloadError,
    QueueNotEmptyError,
    QueueNotFoundError,
    TaskIDConflictError,
    TaskNotFoundError,
    TaskStateError,
)
from asynq.mux import Handler, HandlerFunc, Middleware, ServeMux
from asynq.payload import Payload
from asynq.processor import DeadlineExceeded, TaskCanceled
from asynq.recoverer import LeaseExpired
from asynq.retry import RevokeTask, SkipRetry, default_retry_delay
from asynq.server import Background, Server
from asynq.task import Task, TaskInfo, TaskState

__all__ = [
    "AsynqError",
    "Background",
    "Broker",
    "BrokerConnectionError",
    "BrokerSpec",
    "Client",
    "Clock",
    "Config",
    "DeadlineExceeded",
    "DuplicateTaskError",
    "EnqueueManyError",
    "Handler",
    "HandlerFunc",
    "LeaseExpired",
    "MemoryBroker",
    "Middleware",
    "NoHandlerError",
    "Payload",
    "PayloadError",
    "QueueNotEmptyError",
    "QueueNotFoundError",
    "RedisBroker",
    "RedisClientOpt",
    "RedisFailoverClientOpt",
    "RevokeTask",
    "ServeMux",
    "Server",
    "SkipRetry",
    "SystemClock",
    "Task",
    "TaskCanceled",
    "TaskIDConflictError",
    "TaskInfo",
    "TaskNotFoundError",
    "TaskState",
    "TaskStateError",
    "default_retry_delay",
]
