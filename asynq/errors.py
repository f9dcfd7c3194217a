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
