"""Client: puts tasks on queues."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import attrs
from redis.exceptions import OutOfMemoryError

from asynq import _validate, codecs
from asynq._ids import uuid4
from asynq.brokers import BrokerSpec, open_broker
from asynq.brokers.base import EnqueueRequest, TaskMessage, TaskState
from asynq.brokers.redis.keys import unique as unique_key
from asynq.clock import Clock, SystemClock
from asynq.errors import BrokerOutOfMemoryError, EnqueueManyError, PayloadTooLargeError, ReplicationError
from asynq.task import Task, TaskInfo, check_headers

DEFAULT_QUEUE = "default"
DEFAULT_MAX_RETRY = 25
DEFAULT_TIMEOUT = 1800
"""Seconds a run may take when neither a timeout nor a deadline is given (Go asynq's)."""
DEFAULT_MAX_PAYLOAD_SIZE = 512 * 1024
"""Largest payload, in bytes, a client enqueues unless told otherwise (see docs/security.md)."""
DEFAULT_REPLICA_TIMEOUT = 1.0
"""Seconds a durable enqueue (``replicas=N``) waits for the replicas (see docs/reliability.md)."""


@attrs.frozen
class _Options:
    """Validated enqueue options shared by every task of one call."""

    queue: str
    max_retry: int
    timeout: int
    deadline: int
    process_at: float | None
    unique: float | None
    retention: int
    headers: Mapping[str, str]


class Client:
    """Enqueues and schedules tasks.

    ``broker`` is a URL (``"redis://localhost:6379/0"``, ``"memory://"``...), a
    :class:`RedisClientOpt` / :class:`RedisFailoverClientOpt`, a ``redis.Redis`` or any
    :class:`~asynq.brokers.base.Broker`. A broker the client opened is closed by ``close``.

    ``signing_key`` (bytes or str, 16 bytes at least) signs tasks made with ``codec="pickle"``;
    workers unpickle only payloads signed with a key they hold. ``max_payload_size`` is the
    largest payload in bytes (512 KiB by default, None for no limit); a larger one raises
    :class:`PayloadTooLargeError` at enqueue.

    Durable enqueue: with ``replicas=N`` every enqueue returns only once N replicas of the
    Redis primary hold the task (Redis ``WAIT``, in the same round trip), so an acknowledged
    task survives the loss of the primary. If fewer than N confirm within ``replica_timeout``
    seconds, :class:`ReplicationError` is raised; the task is stored on the primary all the
    same. Each call may override both. See docs/reliability.md.
    """

    def __init__(
        self,
        broker: BrokerSpec,
        *,
        clock: Clock | None = None,
        signing_key: codecs.SigningKey | None = None,
        max_payload_size: int | None = DEFAULT_MAX_PAYLOAD_SIZE,
        replicas: int = 0,
        replica_timeout: _validate.Seconds = DEFAULT_REPLICA_TIMEOUT,
    ) -> None:
        self._durability = _durability(replicas, replica_timeout)
        if max_payload_size is not None:
            _validate.count("max_payload_size", max_payload_size, maximum=512 * 1024 * 1024)
            if max_payload_size == 0:
                raise ValueError("max_payload_size must be positive, or None for no limit")
        self._signing_key = codecs.signing_key(signing_key)
        self._max_payload_size = max_payload_size
        self.broker, self._owns_broker = open_broker(broker)
        self._clock = clock or SystemClock()
        self._plain_options: dict[tuple[str, int], _Options] = {}
        """Validated options of calls that give only a queue and max_retry (see enqueue)."""

    def __repr__(self) -> str:
        return f"<Client {self.broker!r}>"

    def enqueue(
        self,
        task: Task,
        *,
        queue: str = DEFAULT_QUEUE,
        max_retry: int = DEFAULT_MAX_RETRY,
        timeout: _validate.Seconds | None = None,
        deadline: _validate.When | None = None,
        process_at: _validate.When | None = None,
        process_in: _validate.Seconds | None = None,
        unique: _validate.Seconds | None = None,
        task_id: str | None = None,
        retention: _validate.Seconds | None = None,
        headers: Mapping[str, str] | None = None,
        replicas: int | None = None,
        replica_timeout: _validate.Seconds | None = None,
    ) -> TaskInfo:
        """Put ``task`` on ``queue``: pending now, or scheduled for ``process_at``/``process_in``.

        ``unique`` holds a lock on (queue, type, payload) for that many seconds, during which an
        equal task raises :class:`DuplicateTaskError`. ``retention`` keeps the task, with its
        result, as completed for that long after it succeeds. ``replicas`` and
        ``replica_timeout`` override the client's durable-enqueue setting for this call
        (``replicas=0``: don't wait); see :class:`Client`.
        """
        durability = self._call_durability(replicas, replica_timeout)
        now = self._clock.now()
        if (
            timeout is None and deadline is None and process_at is None and process_in is None
            and unique is None and retention is None and headers is None
            and type(queue) is str and type(max_retry) is int
        ):
            # The common call: only a queue and a retry count, which don't depend on the time.
            options = self._plain_options.get((queue, max_retry))
            if options is None:
                options = self._options(now, queue, max_retry, None, None, None, None, None, None, None)
                if len(self._plain_options) < 1024:
                    self._plain_options[(queue, max_retry)] = options
        else:
            options = self._options(
                now, queue, max_retry, timeout, deadline, process_at, process_in, unique, retention, headers
            )
        request = self._request(task, options, _validate.name("task_id", task_id) if task_id is not None else None, now)
        with _EnqueueErrors(self.broker, [request], now):
            state = self.broker.enqueue(request, now=now, **durability)
        return _info(request, state, now)

    def schedule(self, task: Task, when: _validate.When, **options: Any) -> TaskInfo:
        """Process ``task`` at ``when`` (the seed's ``Schedule``); a time already past means now."""
        return self.enqueue(task, process_at=when, **options)

    def enqueue_many(self, tasks: Sequence[Task], **options: Any) -> list[TaskInfo]:
        """Enqueue many tasks with the same options in one round trip.

        Each task gets its own ID. If some tasks cannot be stored (a duplicate unique task),
        the others still are, and :class:`EnqueueManyError` reports each outcome in order.
        """
        if "task_id" in options:
            raise ValueError("enqueue_many gives each task its own ID; task_id is not allowed")
        durability = self._call_durability(options.pop("replicas", None), options.pop("replica_timeout", None))
        now = self._clock.now()
        validated = self._options(now, **_with_defaults(options))
        requests = [self._request(t, validated, None, now) for t in tasks]
        with _EnqueueErrors(self.broker, requests, now):
            outcomes = self.broker.enqueue_many(requests, now=now, **durability)
        results: list[TaskInfo | Exception] = [
            outcome if isinstance(outcome, Exception) else _info(request, outcome, now)
            for request, outcome in zip(requests, outcomes)
        ]
        if any(isinstance(r, Exception) for r in results):
            raise EnqueueManyError(results)
        return results  # type: ignore[return-value]  # no exceptions, checked above

    def _call_durability(self, replicas: int | None, replica_timeout: _validate.Seconds | None) -> dict[str, Any]:
        """The broker's durable-enqueue arguments for one call: none when it need not wait."""
        if replicas is None and replica_timeout is None:
            return self._durability
        default = self._durability or {"replicas": 0, "replica_timeout": DEFAULT_REPLICA_TIMEOUT}
        return _durability(
            default["replicas"] if replicas is None else replicas,
            default["replica_timeout"] if replica_timeout is None else replica_timeout,
        )

    def close(self) -> None:
        """Close the broker if this client opened it."""
        if self._owns_broker:
            self.broker.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @staticmethod
    def _options(
        now: float,
        queue: str,
        max_retry: int,
        timeout: _validate.Seconds | None,
        deadline: _validate.When | None,
        process_at: _validate.When | None,
        process_in: _validate.Seconds | None,
        unique: _validate.Seconds | None,
        retention: _validate.Seconds | None,
        headers: Mapping[str, str] | None,
    ) -> _Options:
        if process_at is not None and process_in is not None:
            raise ValueError("give process_at or process_in, not both")
        due: float | None = None
        if process_at is not None:
            due = _validate.timestamp("process_at", process_at)
        elif process_in is not None:
            due = now + _validate.seconds("process_in", process_in)
        deadline_s = 0
        if deadline is not None:
            deadline_at = _validate.timestamp("deadline", deadline)
            if deadline_at <= now:
                raise ValueError(f"deadline {deadline!r} is in the past")
            deadline_s = math.ceil(deadline_at)
        timeout_s = 0
        if timeout is not None:
            timeout_s = math.ceil(_validate.seconds("timeout", timeout, minimum=1))
        elif deadline is None:
            timeout_s = DEFAULT_TIMEOUT
        return _Options(
            queue=_validate.name("queue name", queue),
            max_retry=_validate.count("max_retry", max_retry),
            timeout=timeout_s,
            deadline=deadline_s,
            process_at=due,
            unique=None if unique is None else _validate.seconds("unique", unique, minimum=1),
            retention=0 if retention is None else math.ceil(_validate.seconds("retention", retention)),
            headers=check_headers(headers),
        )

    def _request(self, task: Task, options: _Options, task_id: str | None, now: float) -> EnqueueRequest:
        if not isinstance(task, Task):
            raise TypeError(f"expected an asynq.Task, got {type(task).__name__}")
        payload = task.payload.raw
        if self._max_payload_size is not None and len(payload) > self._max_payload_size:
            raise PayloadTooLargeError(task.type, len(payload), self._max_payload_size)
        headers = {**task.headers, **options.headers}
        if task.payload._pickled:
            headers = codecs.signed_headers(self._signing_key, task.type, task.payload, headers)
        unique_ttl = None
        lock = ""
        if options.unique is not None:
            lock = unique_key(options.queue, task.type, payload)
            # The lock must outlive the wait for a scheduled task, as in Go asynq.
            unique_ttl = options.unique + max(0.0, (options.process_at or now) - now)
        message = TaskMessage(
            type=task.type,
            payload=payload,
            id=task_id or uuid4(),
            queue=options.queue,
            retry=options.max_retry,
            timeout=options.timeout,
            deadline=options.deadline,
            unique_key=lock,
            retention=options.retention,
            headers=headers,
        )
        return EnqueueRequest(message, process_at=options.process_at, unique_ttl=unique_ttl)


def _with_defaults(options: Mapping[str, Any]) -> dict[str, Any]:
    known = {
        "queue": DEFAULT_QUEUE,
        "max_retry": DEFAULT_MAX_RETRY,
        "timeout": None,
        "deadline": None,
        "process_at": None,
        "process_in": None,
        "unique": None,
        "retention": None,
        "headers": None,
    }
    unknown = set(options) - set(known)
    if unknown:
        raise TypeError(f"unknown enqueue option(s): {', '.join(sorted(unknown))}")
    return {**known, **options}


def _durability(replicas: int, replica_timeout: _validate.Seconds) -> dict[str, Any]:
    """Validated ``replicas``/``replica_timeout``, as broker arguments ({} for no wait)."""
    replicas = _validate.count("replicas", replicas, maximum=1000)
    timeout = _validate.seconds("replica_timeout", replica_timeout, minimum=0.001, maximum=3600)
    return {"replicas": replicas, "replica_timeout": timeout} if replicas else {}


class _EnqueueErrors:
    """Turns what the broker raises while storing ``requests`` into the client's errors.

    Redis refusing a write for lack of memory becomes BrokerOutOfMemoryError; a
    ReplicationError gets the TaskInfo of each stored task in place of broker states.
    (A class, not a generator context manager: it wraps every enqueue, and costs a third.)
    """

    __slots__ = ("broker", "requests", "now")

    def __init__(self, broker: Any, requests: Sequence[EnqueueRequest], now: float) -> None:
        self.broker = broker
        self.requests = requests
        self.now = now

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(exc, OutOfMemoryError):
            # redis-py prefixes pipeline errors with the failing command: keep Redis's words only.
            reason = str(exc).rpartition("caused error: ")[2]
            address = getattr(self.broker, "address", repr(self.broker))
            raise BrokerOutOfMemoryError(address, reason) from exc
        if isinstance(exc, ReplicationError):
            exc.results = [
                outcome if isinstance(outcome, Exception) else _info(request, outcome, self.now)
                for request, outcome in zip(self.requests, exc.results)
            ]


def _info(request: EnqueueRequest, state: TaskState, now: float) -> TaskInfo:
    due = request.process_at if state is TaskState.SCHEDULED and request.process_at else now
    return TaskInfo.from_message(request.message, state, due)
