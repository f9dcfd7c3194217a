"""Exceptions raised by asynq. All derive from :class:`AsynqError`."""

from __future__ import annotations

from collections.abc import Iterable


class AsynqError(Exception):
    """Base class of every exception asynq raises on purpose."""


class PayloadError(AsynqError, ValueError):
    """A payload value is missing, cannot be converted, or cannot be serialised."""


class TaskIDConflictError(AsynqError):
    """A task with the same ID already exists in the queue."""

    def __init__(self, queue: str, task_id: str) -> None:
        super().__init__(f"task ID {task_id!r} already exists in queue {queue!r}")
        self.queue = queue
        self.task_id = task_id


class DuplicateTaskError(AsynqError):
    """A unique task with the same type and payload is still locked."""

    def __init__(self, queue: str, unique_key: str) -> None:
        super().__init__(f"a duplicate task is still held by the uniqueness lock {unique_key!r} in queue {queue!r}")
        self.queue = queue
        self.unique_key = unique_key


class BrokerConnectionError(AsynqError, ConnectionError):
    """The broker could not be reached within the connect timeout."""

    def __init__(self, address: str, cause: BaseException | None = None) -> None:
        reason = f": {cause}" if cause else ""
        super().__init__(f"cannot reach the broker at {address}{reason}")
        self.address = address


class TaskNotFoundError(AsynqError, LookupError):
    """No task with that ID exists in that queue."""


class QueueNotFoundError(AsynqError, LookupError):
    """No queue with that name exists."""


class QueueNotEmptyError(AsynqError):
    """The queue still holds tasks and deletion was not forced."""


class TaskStateError(AsynqError):
    """The operation does not apply to the task's current state."""


class EnqueueManyError(AsynqError):
    """Some tasks of an ``enqueue_many`` call were not stored; ``results`` has each outcome."""

    def __init__(self, results: list) -> None:  # list[TaskInfo | Exception]
        failed = [r for r in results if isinstance(r, Exception)]
        super().__init__(f"{len(failed)} of {len(results)} tasks were not enqueued; first: {failed[0]}")
        self.results = results


class NoHandlerError(AsynqError, LookupError):
    """A :class:`ServeMux` has no route for the task's type; the worker retries it like any failure."""

    def __init__(self, task_type: str, patterns: Iterable[str]) -> None:
        self.task_type = task_type
        self.patterns = tuple(patterns)
        registered = ", ".join(repr(p) for p in self.patterns) or "none"
        super().__init__(f"no handler registered for task type {task_type!r} (registered patterns: {registered})")

    def __reduce__(self) -> tuple[type[NoHandlerError], tuple[str, tuple[str, ...]]]:
        # The default pickles only the message, which __init__ cannot take back.
        return type(self), (self.task_type, self.patterns)


class PayloadTooLargeError(PayloadError):
    """A task's payload is larger than the client's ``max_payload_size``."""

    def __init__(self, task_type: str, size: int, limit: int) -> None:
        super().__init__(
            f"the payload of task {task_type!r} is {size:,} bytes, over the limit of {limit:,} bytes "
            "(Client(max_payload_size=...)); keep large data elsewhere and pass a reference to it"
        )
        self.task_type = task_type
        self.size = size
        self.limit = limit


class BrokerOutOfMemoryError(AsynqError):
    """Redis refused a write because it reached ``maxmemory`` (with the ``noeviction`` policy)."""

    def __init__(self, address: str, cause: BaseException | str | None = None) -> None:
        reason = f" ({cause})" if cause else ""
        super().__init__(
            f"the broker at {address} is out of memory{reason}; nothing was stored. "
            "Free memory in Redis (process or delete tasks) or raise its maxmemory"
        )
        self.address = address


class ReplicationError(AsynqError):
    """A durable enqueue (``replicas=N``) was confirmed by fewer than N replicas in time.

    The tasks ARE stored on the primary and will be processed; what is missing is the
    confirmation that they would survive the primary's loss. ``results`` holds one entry per
    task of the call (a :class:`~asynq.TaskInfo`, or the exception of a task that was not
    stored), in order. Enqueueing the same task again with the same ``task_id`` is accepted
    and waits for the replicas again.
    """

    def __init__(self, address: str, acked: int, wanted: int, timeout: float, results: list | None = None) -> None:
        super().__init__(
            f"only {acked} of the {wanted} replica(s) asked for confirmed the write at {address} "
            f"within {timeout:g} s; the task(s) ARE stored on the primary and will be processed, "
            "but would be lost if the primary failed before replicating them"
        )
        self.address = address
        self.acked = acked
        self.wanted = wanted
        self.timeout = timeout
        self.results = list(results or [])
