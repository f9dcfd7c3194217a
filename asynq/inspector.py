"""Inspector: see and change the state of every queue, task and worker server.

It speaks only to the broker protocol, reads the time from a clock, and returns attrs value
objects (the names follow Go asynq's Inspector).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from types import TracebackType

import attrs

from asynq import _validate
from asynq.brokers import BrokerSpec, open_broker
from asynq.brokers.base import BrokerInfo, QueueStats, ServerRecord, TaskRecord, TaskState, WorkerState
from asynq.clock import Clock, SystemClock
from asynq.errors import QueueNotFoundError
from asynq.payload import Payload
from asynq.task import TaskInfo

__all__ = ["CurrentStats", "DailyStats", "Inspector", "QueueInfo", "ServerInfo", "TaskDetails", "WorkerInfo"]

S = TaskState
SIZED_STATES = (S.PENDING, S.ACTIVE, S.SCHEDULED, S.RETRY, S.ARCHIVED, S.COMPLETED)
"""The states a queue's size is made of; each is a field of :class:`QueueInfo`."""


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def _queue(name: str) -> str:
    return _validate.name("queue name", name)


def _task_id(value: str) -> str:
    return _validate.name("task ID", value)


def _positive(option: str, value: int) -> int:
    if _validate.count(option, value) < 1:
        raise ValueError(f"{option} must be at least 1, got {value}")
    return value


@attrs.frozen
class QueueInfo:
    """One queue at ``timestamp``; ``processed`` and ``failed`` count today (UTC)."""

    queue: str
    size: int
    """Tasks in the queue, in any state."""
    pending: int
    active: int
    scheduled: int
    retry: int
    archived: int
    completed: int
    processed: int
    failed: int
    processed_total: int
    failed_total: int
    paused: bool
    latency: dt.timedelta
    """How long the oldest pending task has waited."""
    memory_usage: int | None
    """Estimated bytes; None when the broker cannot measure it (the memory broker)."""
    timestamp: dt.datetime

    @classmethod
    def from_stats(cls, stats: QueueStats, now: float) -> QueueInfo:
        since = stats.oldest_pending_since
        return cls(
            queue=stats.queue,
            size=sum(stats.sizes.values()),
            **{state.value: stats.sizes.get(state, 0) for state in SIZED_STATES},
            processed=stats.processed_today,
            failed=stats.failed_today,
            processed_total=stats.processed_total,
            failed_total=stats.failed_total,
            paused=stats.paused,
            latency=dt.timedelta(seconds=max(0.0, now - since) if since is not None else 0.0),
            memory_usage=stats.memory_usage,
            timestamp=_utc(now),
        )


@attrs.frozen
class DailyStats:
    """Tasks of one queue processed and failed on one UTC day."""

    queue: str
    date: dt.date
    processed: int
    failed: int


@attrs.frozen
class TaskDetails(TaskInfo):
    """A :class:`TaskInfo` as the inspector reads it, with what only the broker knows."""

    result: bytes | None = None
    """What the handler wrote with ``task.write_result`` (kept for completed tasks)."""
    is_orphaned: bool = False
    """An active task whose worker's lease expired: the recoverer will retry it."""

    @classmethod
    def from_record(cls, record: TaskRecord, now: float) -> TaskDetails:
        due = {S.PENDING: record.pending_since, S.SCHEDULED: record.score, S.RETRY: record.score}
        info = TaskInfo.from_message(record.message, record.state, due.get(record.state) or 0)
        orphaned = record.state is S.ACTIVE and (record.score is None or record.score <= now)
        return cls(**attrs.asdict(info, recurse=False), result=record.result, is_orphaned=orphaned)


@attrs.frozen
class WorkerInfo:
    """One task a server is processing."""

    task_id: str
    task_type: str
    task_payload: Payload
    queue: str
    started: dt.datetime
    deadline: dt.datetime | None

    @classmethod
    def from_state(cls, worker: WorkerState) -> WorkerInfo:
        return cls(
            task_id=worker.task_id,
            task_type=worker.task_type,
            task_payload=Payload.from_bytes(worker.task_payload),
            queue=worker.queue,
            started=_utc(worker.started_at),
            deadline=_utc(worker.deadline) if worker.deadline else None,
        )


@attrs.frozen
class ServerInfo:
    """A live worker server and the tasks it is processing."""

    id: str
    host: str
    pid: int
    concurrency: int
    queues: Mapping[str, int]
    strict_priority: bool
    status: str
    started: dt.datetime
    active_workers: Sequence[WorkerInfo]

    @classmethod
    def from_record(cls, record: ServerRecord) -> ServerInfo:
        s = record.server
        return cls(
            id=s.server_id,
            host=s.host,
            pid=s.pid,
            concurrency=s.concurrency,
            queues=dict(s.queues),
            strict_priority=s.strict_priority,
            status=s.status,
            started=_utc(s.started_at),
            active_workers=tuple(WorkerInfo.from_state(w) for w in record.workers),
        )


@attrs.frozen
class CurrentStats:
    """Everything the seed's ``asynqmon stats`` shows, at ``timestamp``."""

    timestamp: dt.datetime
    by_state: Mapping[TaskState, int]
    """Tasks per state across all queues."""
    queues: Sequence[QueueInfo]
    processed: int
    """Tasks processed today (UTC), across all queues."""
    failed: int
    error_rate: float
    """``failed / processed`` today; 0.0 when nothing was processed."""
    broker: BrokerInfo


class Inspector:
    """Lists, reads and changes queues and tasks; shows worker servers.

    ``broker`` is anything :class:`~asynq.Client` accepts; a broker the inspector opened is
    closed by ``close``. Pages are numbered from 1. Errors: :class:`QueueNotFoundError`,
    :class:`TaskNotFoundError`, :class:`TaskStateError` (the operation does not apply to the
    task's state) and :class:`QueueNotEmptyError`.
    """

    def __init__(self, broker: BrokerSpec, *, clock: Clock | None = None) -> None:
        self.broker, self._owns_broker = open_broker(broker)
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"<Inspector {self.broker!r}>"

    def close(self) -> None:
        """Close the broker if this inspector opened it."""
        if self._owns_broker:
            self.broker.close()

    def __enter__(self) -> Inspector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- queues ----------------------------------------------------------------------------

    def queues(self) -> list[str]:
        """Every queue name, sorted."""
        return self.broker.queues()

    def get_queue_info(self, queue: str) -> QueueInfo:
        now = self._clock.now()
        return QueueInfo.from_stats(self.broker.queue_stats(_queue(queue), now=now), now)

    def history(self, queue: str, days: int = 7) -> list[DailyStats]:
        """Processed and failed counts of the last ``days`` UTC days, today first."""
        counts = self.broker.history(_queue(queue), _positive("days", days), now=self._clock.now())
        return [DailyStats(queue, dt.date.fromisoformat(c.day), c.processed, c.failed) for c in counts]

    def pause_queue(self, queue: str) -> bool:
        """Stop workers taking the queue's tasks; False if it was already paused."""
        return self.broker.pause_queue(_queue(queue), now=self._clock.now())

    def unpause_queue(self, queue: str) -> bool:
        """Let workers take the queue's tasks again; False if it was not paused."""
        return self.broker.unpause_queue(_queue(queue))

    def delete_queue(self, queue: str, force: bool = False) -> None:
        """Remove the queue; with ``force`` even if it holds tasks, never while some are active."""
        self.broker.remove_queue(_queue(queue), force=force, now=self._clock.now())

    # --- tasks -----------------------------------------------------------------------------

    def list_pending_tasks(self, queue: str, page: int = 1, page_size: int = 30) -> list[TaskDetails]:
        """Pending tasks, the next to be processed first."""
        return self._list(queue, S.PENDING, page, page_size)

    def list_active_tasks(self, queue: str, page: int = 1, page_size: int = 30) -> list[TaskDetails]:
        """Active tasks, the longest running first; see ``is_orphaned``."""
        return self._list(queue, S.ACTIVE, page, page_size)

    def list_scheduled_tasks(self, queue: str, page: int = 1, page_size: int = 30) -> list[TaskDetails]:
        """Scheduled tasks, the next due first."""
        return self._list(queue, S.SCHEDULED, page, page_size)

    def list_retry_tasks(self, queue: str, page: int = 1, page_size: int = 30) -> list[TaskDetails]:
        """Tasks waiting to be retried, the next due first."""
        return self._list(queue, S.RETRY, page, page_size)

    def list_archived_tasks(self, queue: str, page: int = 1, page_size: int = 30) -> list[TaskDetails]:
        """Archived tasks, the earliest archived first."""
        return self._list(queue, S.ARCHIVED, page, page_size)

    def list_completed_tasks(self, queue: str, page: int = 1, page_size: int = 30) -> list[TaskDetails]:
        """Completed tasks kept for their retention, the first to expire first."""
        return self._list(queue, S.COMPLETED, page, page_size)

    def _list(self, queue: str, state: TaskState, page: int, page_size: int) -> list[TaskDetails]:
        size = _positive("page_size", page_size)
        offset = (_positive("page", page) - 1) * size
        records = self.broker.list_tasks(_queue(queue), state, offset=offset, count=size)
        now = self._clock.now()
        return [TaskDetails.from_record(r, now) for r in records]

    def get_task_info(self, queue: str, task_id: str) -> TaskDetails:
        record = self.broker.get_task(_queue(queue), _task_id(task_id))
        return TaskDetails.from_record(record, self._clock.now())

    def run_task(self, queue: str, task_id: str) -> None:
        """Move a scheduled, retry or archived task to pending."""
        self.broker.run_task(_queue(queue), _task_id(task_id), now=self._clock.now())

    def archive_task(self, queue: str, task_id: str) -> None:
        """Archive a pending, scheduled or retry task."""
        self.broker.archive_task(_queue(queue), _task_id(task_id), now=self._clock.now())

    def delete_task(self, queue: str, task_id: str) -> None:
        """Delete a task in any state but active."""
        self.broker.delete_task(_queue(queue), _task_id(task_id))

    def run_all_scheduled_tasks(self, queue: str) -> int:
        return self._run_all(queue, S.SCHEDULED)

    def run_all_retry_tasks(self, queue: str) -> int:
        return self._run_all(queue, S.RETRY)

    def run_all_archived_tasks(self, queue: str) -> int:
        return self._run_all(queue, S.ARCHIVED)

    def archive_all_pending_tasks(self, queue: str) -> int:
        return self._archive_all(queue, S.PENDING)

    def archive_all_scheduled_tasks(self, queue: str) -> int:
        return self._archive_all(queue, S.SCHEDULED)

    def archive_all_retry_tasks(self, queue: str) -> int:
        return self._archive_all(queue, S.RETRY)

    def delete_all_pending_tasks(self, queue: str) -> int:
        return self._delete_all(queue, S.PENDING)

    def delete_all_scheduled_tasks(self, queue: str) -> int:
        return self._delete_all(queue, S.SCHEDULED)

    def delete_all_retry_tasks(self, queue: str) -> int:
        return self._delete_all(queue, S.RETRY)

    def delete_all_archived_tasks(self, queue: str) -> int:
        return self._delete_all(queue, S.ARCHIVED)

    def delete_all_completed_tasks(self, queue: str) -> int:
        return self._delete_all(queue, S.COMPLETED)

    def _run_all(self, queue: str, state: TaskState) -> int:
        return self.broker.run_all(_queue(queue), state, now=self._clock.now())

    def _archive_all(self, queue: str, state: TaskState) -> int:
        return self.broker.archive_all(_queue(queue), state, now=self._clock.now())

    def _delete_all(self, queue: str, state: TaskState) -> int:
        return self.broker.delete_all(_queue(queue), state)

    def cancel_processing(self, task_id: str) -> None:
        """Ask the worker running the task to stop it (its handler sees ``task.cancelled``)."""
        self.broker.publish_cancellation(_task_id(task_id))

    # --- servers and totals ----------------------------------------------------------------

    def servers(self) -> list[ServerInfo]:
        """Live worker servers with the tasks they are processing."""
        return [ServerInfo.from_record(r) for r in self.broker.servers(now=self._clock.now())]

    def current_stats(self) -> CurrentStats:
        """Totals by state and by queue, today's counts and the broker's own figures."""
        now = self._clock.now()
        infos = []
        for queue in self.broker.queues():
            try:
                infos.append(QueueInfo.from_stats(self.broker.queue_stats(queue, now=now), now))
            except QueueNotFoundError:  # removed since it was listed
                continue
        processed = sum(i.processed for i in infos)
        failed = sum(i.failed for i in infos)
        return CurrentStats(
            timestamp=_utc(now),
            by_state={state: sum(getattr(i, state.value) for i in infos) for state in SIZED_STATES},
            queues=tuple(infos),
            processed=processed,
            failed=failed,
            error_rate=failed / processed if processed else 0.0,
            broker=self.broker.broker_info(),
        )
