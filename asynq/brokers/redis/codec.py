"""Encoding of broker values to the protobuf messages Go asynq stores."""

from __future__ import annotations

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from asynq._proto import asynq_pb2
from asynq.brokers.base import ServerState, TaskMessage, WorkerState


class CorruptMessageError(ValueError):
    """Stored bytes are not a TaskMessage."""


def encode_task(msg: TaskMessage) -> bytes:
    # Fields that are unset at enqueue are set only when present (each keyword costs, and
    # proto3 does not write zero values anyway): the bytes are the same.
    pb = asynq_pb2.TaskMessage(
        type=msg.type,
        payload=msg.payload,
        id=msg.id,
        queue=msg.queue,
        retry=msg.retry,
        timeout=msg.timeout,
        deadline=msg.deadline,
        unique_key=msg.unique_key,
        retention=msg.retention,
    )
    if msg.retried:
        pb.retried = msg.retried
    if msg.error_msg:
        pb.error_msg = msg.error_msg
    if msg.last_failed_at:
        pb.last_failed_at = msg.last_failed_at
    if msg.completed_at:
        pb.completed_at = msg.completed_at
    if msg.group_key:
        pb.group_key = msg.group_key
    if msg.headers:
        pb.headers.update(msg.headers)
    return pb.SerializeToString()


def decode_task(data: bytes) -> TaskMessage:
    pb = asynq_pb2.TaskMessage()
    try:
        pb.ParseFromString(data)
    except DecodeError as exc:
        raise CorruptMessageError(f"cannot decode task message: {exc}") from exc
    if not pb.id or not pb.type:
        raise CorruptMessageError("task message has no ID or no type")
    return TaskMessage(
        type=pb.type,
        payload=pb.payload,
        id=pb.id,
        queue=pb.queue,
        retry=pb.retry,
        retried=pb.retried,
        error_msg=pb.error_msg,
        timeout=pb.timeout,
        deadline=pb.deadline,
        unique_key=pb.unique_key,
        last_failed_at=pb.last_failed_at,
        retention=pb.retention,
        completed_at=pb.completed_at,
        group_key=pb.group_key,
        headers=dict(pb.headers),
    )


def _timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def encode_server(server: ServerState) -> bytes:
    return asynq_pb2.ServerInfo(
        host=server.host,
        pid=server.pid,
        server_id=server.server_id,
        concurrency=server.concurrency,
        queues=dict(server.queues),
        strict_priority=server.strict_priority,
        status=server.status,
        start_time=_timestamp(server.started_at),
        active_worker_count=server.active_worker_count,
    ).SerializeToString()


def decode_server(data: bytes) -> ServerState:
    pb = asynq_pb2.ServerInfo.FromString(data)
    return ServerState(
        host=pb.host,
        pid=pb.pid,
        server_id=pb.server_id,
        concurrency=pb.concurrency,
        queues=dict(pb.queues),
        strict_priority=pb.strict_priority,
        status=pb.status,
        started_at=pb.start_time.ToNanoseconds() / 1e9,
        active_worker_count=pb.active_worker_count,
    )


def encode_worker(worker: WorkerState) -> bytes:
    return asynq_pb2.WorkerInfo(
        host=worker.host,
        pid=worker.pid,
        server_id=worker.server_id,
        task_id=worker.task_id,
        task_type=worker.task_type,
        task_payload=worker.task_payload,
        queue=worker.queue,
        start_time=_timestamp(worker.started_at),
        deadline=_timestamp(worker.deadline),
    ).SerializeToString()


def decode_worker(data: bytes) -> WorkerState:
    pb = asynq_pb2.WorkerInfo.FromString(data)
    return WorkerState(
        host=pb.host,
        pid=pb.pid,
        server_id=pb.server_id,
        task_id=pb.task_id,
        task_type=pb.task_type,
        task_payload=pb.task_payload,
        queue=pb.queue,
        started_at=pb.start_time.ToNanoseconds() / 1e9,
        deadline=pb.deadline.ToNanoseconds() / 1e9,
    )
