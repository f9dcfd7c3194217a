"""Task (what to do), TaskInfo (what the broker holds) and TaskState."""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from asynq.brokers.base import TaskMessage, TaskState
from asynq.payload import PICKLE_CONTENT_TYPE, Payload

__all__ = ["Task", "TaskInfo", "TaskState"]


# Cached: the tasks of one enqueue_many call share their due time, timeout and deadline, and
# building a datetime or timedelta costs about 1 us, a cache hit a fifth of that.
@functools.lru_cache(maxsize=256)
def _utc(seconds: float) -> dt.datetime | None:
    """A unix time as an aware UTC datetime; 0 (Go's "unset") as None."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc) if seconds else None


@functools.lru_cache(maxsize=256)
def _duration(seconds: int) -> dt.timedelta | None:
    """Seconds as a timedelta; 0 (Go's "unset") as None."""
    return dt.timedelta(seconds=seconds) if seconds else None


def check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    if headers is not None and not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a mapping of str to str, got {type(headers).__name__}")
    headers = dict(headers or {})
    for key, value in headers.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"headers must map str to str, got {key!r}: {value!r}")
        if not (_is_utf8(key) and _is_utf8(value)):
            raise ValueError(f"headers must be valid Unicode text (no lone surrogates), got {key!r}: {value!r}")
    return headers


def _is_utf8(text: str) -> bool:
    """Whether ``text`` can be stored: Redis and protobuf strings are UTF-8, lone surrogates are not."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class Task:
    """A unit of work: a type name that picks the handler, and a payload.

    The payload is JSON-serialisable data or raw ``bytes`` (see :class:`Payload`); with
    ``codec="pickle"`` any object cloudpickle can pickle, for Python-only deployments whose
    client and workers share a signing key (see :mod:`asynq.codecs`). Inside a
    handler the task also carries its context: ``id``, ``queue``, ``retry_count``,
    ``max_retry`` and ``deadline``; outside one those are ``None`` / 0.
    """

    def __init__(
        self, type: str, payload: Any = None, *, headers: Mapping[str, str] | None = None, codec: str = "json"
    ) -> None:
        if not isinstance(type, str) or not type.strip():
            raise ValueError(f"task type must be a non-empty string, got {type!r}")
        if not _is_utf8(type):
            raise ValueError(f"task type must be valid Unicode text (no lone surrogates), got {type!r}")
        self.type = type
        if codec == "json":
            self.payload = payload if isinstance(payload, Payload) else Payload(payload)
        elif codec in ("pickle", "cloudpickle"):
            if isinstance(payload, Payload):
                raise TypeError("codec='pickle' pickles the object you give; pass the object, not a Payload")
            self.payload = Payload._pickle(payload)
        else:
            raise ValueError(f"codec must be 'json' (the default) or 'pickle', got {codec!r}")
        self.headers = check_headers(headers)
        if self.payload._pickled:
            self.headers["content-type"] = PICKLE_CONTENT_TYPE
        self.id: str | None = None
        self.queue: str | None = None
        self.retry_count = 0
        self.max_retry = 0
        self.deadline: dt.datetime | None = None
        self._cancelled: threading.Event | None = None
        self._result_writer: Callable[[bytes], None] | None = None

    @classmethod
    def _from_message(cls, msg: TaskMessage) -> Task:
        """The task a stored message describes, with its ID, queue and retry counts."""
        task = cls(msg.type, Payload.from_bytes(msg.payload), headers=msg.headers)
        task.id = msg.id
        task.queue = msg.queue
        task.retry_count = msg.retried
        task.max_retry = msg.retry
        return task

    @classmethod
    def _running(
        cls,
        msg: TaskMessage,
        *,
        deadline: float,
        cancelled: threading.Event,
        result_writer: Callable[[bytes], None],
    ) -> Task:
        """The task as a handler sees it, with its context."""
        task = cls._from_message(msg)
        task.deadline = _utc(deadline)
        task._cancelled = cancelled
        task._result_writer = result_writer
        return task

    @property
    def cancelled(self) -> bool:
        """True once the task passed its deadline or was cancelled; a handler should stop."""
        return self._cancelled is not None and self._cancelled.is_set()

    def write_result(self, data: bytes) -> None:
        """Store a result with the task; kept after success when the task has a retention."""
        if self._result_writer is None:
            raise RuntimeError("write_result works only inside a handler")
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"a task result must be bytes, got {type(data).__name__}")
        self._result_writer(bytes(data))

    def __repr__(self) -> str:
        where = f" id={self.id!r} queue={self.queue!r}" if self.id else ""
        return f"<Task {self.type!r}{where} payload={self.payload!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Task):
            return NotImplemented
        return (self.type, self.payload, self.headers) == (other.type, other.payload, other.headers)

    __hash__ = None  # type: ignore[assignment]  # mutable context: not hashable


@attrs.frozen
class TaskInfo:
    """A snapshot of a task as the broker holds it."""

    id: str
    queue: str
    type: str
    payload: Payload
    state: TaskState
    max_retry: int
    retried: int
    last_error: str
    last_failed_at: dt.datetime | None
    timeout: dt.timedelta | None
    deadline: dt.datetime | None
    next_process_at: dt.datetime | None
    """When the task is (or was, if pending) due to run."""
    retention: dt.timedelta | None
    completed_at: dt.datetime | None
    headers: Mapping[str, str]

    @classmethod
    def from_message(cls, msg: TaskMessage, state: TaskState, next_process_at: float) -> TaskInfo:
        # Positional, in field order: every enqueue builds one, and keywords cost a fifth more.
        return cls(
            msg.id,
            msg.queue,
            msg.type,
            Payload.from_bytes(msg.payload),
            state,
            msg.retry,
            msg.retried,
            msg.error_msg,
            _utc(msg.last_failed_at),
            _duration(msg.timeout),
            _utc(msg.deadline),
            _utc(next_process_at),
            _duration(msg.retention),
            _utc(msg.completed_at),
            dict(msg.headers),
        )
