"""asynq: simple, reliable background tasks on Redis, wire-compatible with Go asynq.

Everything public is re-exported here; the submodules are private.
"""

from asynq.brokers import BrokerSpec
from asynq.brokers.base import Broker, BrokerInfo
from asynq.brokers.memory import MemoryBroker
from asynq.brokers.redis.broker import RedisBroker
from asynq.brokers.redis.options import RedisClientOpt, RedisClusterClientOpt, RedisFailoverClientOpt
from asynq.client import Client
from asynq.clock import Clock, SystemClock
from asynq.codecs import UntrustedPayloadError
from asynq.config import Config
from asynq.errors import (
    AsynqError,
    BrokerConnectionError,
    BrokerOutOfMemoryError,
    DuplicateTaskError,
    EnqueueManyError,
    NoHandlerError,
    PayloadError,
    PayloadTooLargeError,
    QueueNotEmptyError,
    QueueNotFoundError,
    ReplicationError,
    TaskIDConflictError,
    TaskNotFoundError,
    TaskStateError,
)
from asynq.inspector import (
    CurrentStats,
    DailyStats,
    Inspector,
    QueueInfo,
    ServerInfo,
    TaskDetails,
    WorkerInfo,
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
    "BrokerInfo",
    "BrokerOutOfMemoryError",
    "BrokerSpec",
    "Client",
    "Clock",
    "Config",
    "CurrentStats",
    "DailyStats",
    "DeadlineExceeded",
    "DuplicateTaskError",
    "EnqueueManyError",
    "Handler",
    "HandlerFunc",
    "Inspector",
    "LeaseExpired",
    "MemoryBroker",
    "Middleware",
    "NoHandlerError",
    "Payload",
    "PayloadError",
    "PayloadTooLargeError",
    "QueueInfo",
    "QueueNotEmptyError",
    "QueueNotFoundError",
    "RedisBroker",
    "RedisClientOpt",
    "RedisClusterClientOpt",
    "RedisFailoverClientOpt",
    "ReplicationError",
    "RevokeTask",
    "ServeMux",
    "Server",
    "ServerInfo",
    "SkipRetry",
    "SystemClock",
    "Task",
    "TaskCanceled",
    "TaskDetails",
    "TaskIDConflictError",
    "TaskInfo",
    "TaskNotFoundError",
    "TaskState",
    "TaskStateError",
    "UntrustedPayloadError",
    "WorkerInfo",
    "default_retry_delay",
]
