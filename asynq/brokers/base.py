"""The broker protocol: the one seam between asynq and its storage.

The client, the worker, the retry policy and the inspector speak only to :class:`Broker`.
Every operation is atomic. Times are passed in (unix seconds, from the caller's clock) and
never read inside a broker, so tests can drive time. Values crossing the seam are the plain
attrs classes below, never storage replies.

The contract is pinned by the conformance suite in :mod:`asynq.testing.conformance`, which
every broker must pass.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence

import attrs


class TaskState(str, enum.Enum):
    """Where a task is in its life (DESIGN §5); the values are the stored ``state`` field."""

    PENDING = "pending"
    ACTIVE = "active"
    SCHEDULED = "scheduled"
    RETRY = "retry"
    ARCHIVED = "archived"
    COMPLETED = "completed"
    AGGREGATING = "aggregating"


@attrs.frozen
class TaskMessage:
    """A task as the broker stores it; field names follow Go asynq's ``TaskMessage``."""

    type: str
    payload: bytes
    id: str
    queue: str
    retry: int = 25
    """Maximum number of retries."""
    retried: int = 0
    error_msg: str = ""
    timeout: int = 0
    """Seconds a single run may take; 0 means no timeout."""
    deadline: int = 0
    """Unix seconds by which a run must finish; 0 means no deadline."""
    unique_key: str = ""
    last_failed_at: int = 0
    retention: int = 0
    """Seconds to keep the task, as completed, after it succeeds."""
    completed_at: int = 0
    group_key: str = ""
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class EnqueueRequest:
    """One task to store: pending now, or scheduled when ``process_at`` is in the future."""

    message: TaskMessage
    process_at: float | None = None
    unique_ttl: float | None = None
    """Seconds the uniqueness lock is held; None means the task is not unique."""


@attrs.frozen
class Lease:
    """A task handed to one worker until ``expires_at``.

    ``token`` fences the lease: a state change presented with a token that no longer owns the
    task (because the lease expired and the task was recovered) is refused.
    """

    message: TaskMessage
    token: str
    expires_at: float


@attrs.frozen
class ServerState:
    """A running worker server, as shown by the inspector and Go's asynqmon."""

    host: str
    pid: int
    server_id: str
    concurrency: int
    queues: Mapping[str, int]
    strict_priority: bool
    status: str
    started_at: float
    active_worker_count: int = 0


@attrs.frozen
class WorkerState:
    """One task being processed by a server."""

    host: str
    pid: int
    server_id: str
    task_id: str
    task_type: str
    task_payload: bytes
    queue: str
    started_at: float
    deadline: float


class NoticeKind(str, enum.Enum):
    CANCEL = "cancel"
    """A task ID whose processing should be cancelled."""
    WAKEUP = "wakeup"
    """A queue name that received new work."""


@attrs.frozen
class Notice:
    kind: NoticeKind
    value: str


class Subscription(abc.ABC):
    """A stream of notices from producers and operators to workers."""

    @abc.abstractmethod
    def get(self, timeout: float) -> Notice | None:
        """Return the next notice, or None when none arrived within ``timeout`` seconds."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop receiving; further ``get`` calls are not allowed."""


class Broker(abc.ABC):
    """Storage for tasks, with one atomic operation per state change."""

    # --- producing -------------------------------------------------------------------------

    @abc.abstractmethod
    def enqueue(
        self, request: EnqueueRequest, *, now: float, replicas: int = 0, replica_timeout: float = 1.0
    ) -> TaskState:
        """Store a new task and return its state (pending, or scheduled if due later).

        Raises :class:`~asynq.errors.TaskIDConflictError` when a different task with that ID
        exists in the queue (storing an identical message again is accepted, so a retried call
        is harmless), and :class:`~asynq.errors.DuplicateTaskError` when the uniqueness lock is
        held. Producers' wake-up notices are published to idle workers.

        Durable enqueue: with ``replicas`` > 0, return only once that many replicas have the
        write, waiting at most ``replica_timeout`` seconds; if fewer confirm it in time, raise
        :class:`~asynq.errors.ReplicationError` (the task stays stored). A broker that has no
        replicas raises it too. The client passes these two arguments only when ``replicas``
        > 0, so a broker that cannot replicate may leave them out of its signature.
        """

    @abc.abstractmethod
    def enqueue_many(
        self, requests: Sequence[EnqueueRequest], *, now: float, replicas: int = 0, replica_timeout: float = 1.0
    ) -> list[TaskState | Exception]:
        """Store many tasks in one round trip; one result per request, errors in place.

        ``replicas`` and ``replica_timeout`` as for :meth:`enqueue`: the wait covers the whole
        batch, and the :class:`~asynq.errors.ReplicationError` carries the per-request results.
        """

    # --- consuming -------------------------------------------------------------------------

    @abc.abstractmethod
    def dequeue(
        self, queues: Sequence[str], count: int, *, now: float, lease_until: float
    ) -> list[Lease]:
        """Move up to ``count`` pending tasks to active, trying ``queues`` in order.

        Paused queues are skipped. Each task gets a lease expiring at ``lease_until``.
        """

    @abc.abstractmethod
    def succeed(self, lease: Lease, *, now: float) -> bool:
        """Finish an active task: delete it, or keep it as completed when it has a retention.

        Counts it as processed and releases its uniqueness lock. Returns False, changing
        nothing, when the lease was lost.
        """

    def succeed_many(self, leases: Sequence[Lease], *, now: float) -> list[bool]:
        """``succeed`` for several tasks, each fenced on its own lease; one result per lease.

        The default calls ``succeed`` for each; a broker overrides it to save round trips.
        """
        return [self.succeed(lease, now=now) for lease in leases]

    def succeed_and_dequeue(
        self, leases: Sequence[Lease], queues: Sequence[str], count: int, *, now: float, lease_until: float
    ) -> tuple[list[bool], list[Lease]]:
        """``succeed_many(leases)``, then ``dequeue(queues, count)``: one result per lease, and
        the new leases. The successes are written before anything is leased, so a worker can
        pass the slots it frees as part of ``count``.

        The default makes the two calls; a broker overrides it to do both in one round trip.
        An error means the outcome of both is unknown: the successes may have to be written
        again (each is fenced on its lease), and any task leased meanwhile comes back when its
        lease expires.
        """
        done = self.succeed_many(leases, now=now)
        return done, self.dequeue(queues, count, now=now, lease_until=lease_until)

    @abc.abstractmethod
    def requeue(self, lease: Lease, *, now: float) -> bool:
        """Put an active task back at the head of its pending list (worker shutdown)."""

    @abc.abstractmethod
    def retry(
        self,
        lease: Lease,
        message: TaskMessage,
        *,
        retry_at: float,
        is_failure: bool,
        now: float,
        only_if_expired: bool = False,
    ) -> bool:
        """Move an active task to retry, due at ``retry_at``, storing the updated ``message``.

        ``is_failure`` counts it as processed and failed. With ``only_if_expired`` the move
        happens only while the lease is still past due (the recoverer's guard against a
        worker that extended it meanwhile). Returns False when the lease was lost.
        """

    @abc.abstractmethod
    def archive(
        self, lease: Lease, message: TaskMessage, *, now: float, only_if_expired: bool = False
    ) -> bool:
        """Move an active task to the archive, counted as processed and failed.

        The archive is trimmed to the broker's age and size limits in the same step.
        Returns False when the lease was lost.
        """

    @abc.abstractmethod
    def write_result(self, lease: Lease, data: bytes) -> bool:
        """Store a handler's result on its active task; False when the lease was lost."""

    @abc.abstractmethod
    def extend_leases(self, leases: Sequence[Lease], *, until: float) -> list[Lease]:
        """Extend the given leases to ``until``; return those that were lost (never revived)."""

    # --- housekeeping ----------------------------------------------------------------------

    @abc.abstractmethod
    def forward(self, queues: Sequence[str], *, now: float) -> int:
        """Move scheduled and retry tasks due by ``now`` to pending; return how many moved."""

    @abc.abstractmethod
    def next_due_at(self, queues: Sequence[str]) -> float | None:
        """The earliest due time of any scheduled or retry task, or None if there is none."""

    @abc.abstractmethod
    def expired_leases(self, queues: Sequence[str], *, now: float) -> list[Lease]:
        """Return the active tasks whose lease expired by ``now``, for the recoverer."""

    @abc.abstractmethod
    def reconcile_active(self, queues: Sequence[str], *, now: float) -> int:
        """Give every active task that has no lease an already expired one; return how many."""

    @abc.abstractmethod
    def delete_expired_completed(self, queues: Sequence[str], *, now: float) -> int:
        """Delete completed tasks whose retention ended by ``now``; return how many."""

    @abc.abstractmethod
    def write_server_state(
        self, server: ServerState, workers: Sequence[WorkerState], *, ttl: float, now: float
    ) -> None:
        """Record a live server and its busy workers; the record expires after ``ttl``."""

    @abc.abstractmethod
    def clear_server_state(self, server: ServerState) -> None:
        """Remove a server's record (on shutdown)."""

    @abc.abstractmethod
    def publish_cancellation(self, task_id: str) -> None:
        """Ask every worker to cancel the task with this ID if it is running it."""

    @abc.abstractmethod
    def subscribe(self) -> Subscription:
        """Start receiving cancellations and wake-ups: every notice published after this
        returns reaches the subscription (while it stays connected)."""

    # --- inspecting ------------------------------------------------------------------------

    @abc.abstractmethod
    def queues(self) -> list[str]:
        """Every queue name ever written to, sorted."""

    # Every queue-scoped call below raises QueueNotFoundError for a queue never written to.

    @abc.abstractmethod
    def queue_stats(self, queue: str, *, now: float) -> QueueStats:
        """Sizes per state, today's and lifetime counters, pause flag and memory of ``queue``."""

    @abc.abstractmethod
    def history(self, queue: str, days: int, *, now: float) -> list[DailyCounts]:
        """Processed and failed counts of the last ``days`` UTC days, today first."""

    @abc.abstractmethod
    def list_tasks(self, queue: str, state: TaskState, *, offset: int, count: int) -> list[TaskRecord]:
        """Up to ``count`` tasks in ``state`` from position ``offset``.

        Pending and active tasks come in processing order (oldest first), the others by score.
        """

    @abc.abstractmethod
    def get_task(self, queue: str, task_id: str) -> TaskRecord:
        """The task ``task_id``; raises :class:`~asynq.errors.TaskNotFoundError`."""

    @abc.abstractmethod
    def run_task(self, queue: str, task_id: str, *, now: float) -> None:
        """Move a scheduled, retry or archived task to pending.

        Raises :class:`~asynq.errors.TaskNotFoundError`, or
        :class:`~asynq.errors.TaskStateError` for a task in another state.
        """

    @abc.abstractmethod
    def archive_task(self, queue: str, task_id: str, *, now: float) -> None:
        """Move a pending, scheduled or retry task to the archive (errors as ``run_task``)."""

    @abc.abstractmethod
    def delete_task(self, queue: str, task_id: str) -> None:
        """Delete a task in any state but active, releasing its uniqueness lock if it holds it."""

    @abc.abstractmethod
    def run_all(self, queue: str, state: TaskState, *, now: float) -> int:
        """Move every task in ``state`` (scheduled, retry, archived) to pending; return how many."""

    @abc.abstractmethod
    def archive_all(self, queue: str, state: TaskState, *, now: float) -> int:
        """Archive every task in ``state`` (pending, scheduled, retry); return how many."""

    @abc.abstractmethod
    def delete_all(self, queue: str, state: TaskState) -> int:
        """Delete every task in ``state`` (any state but active); return how many."""

    @abc.abstractmethod
    def pause_queue(self, queue: str, *, now: float) -> bool:
        """Stop handing out the queue's tasks; False if it was already paused."""

    @abc.abstractmethod
    def unpause_queue(self, queue: str) -> bool:
        """Resume a paused queue; False if it was not paused."""

    @abc.abstractmethod
    def remove_queue(self, queue: str, *, force: bool, now: float) -> None:
        """Delete the queue with all its tasks and counters.

        Raises :class:`~asynq.errors.QueueNotEmptyError` if it holds tasks and ``force`` is
        false, and always while it has active tasks.
        """

    @abc.abstractmethod
    def servers(self, *, now: float) -> list[ServerRecord]:
        """Every live worker server with its busy workers; expired records are dropped."""

    @abc.abstractmethod
    def broker_info(self) -> BrokerInfo:
        """What the storage server says about itself, as far as it tells."""

    # --- lifecycle -------------------------------------------------------------------------

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise :class:`~asynq.errors.BrokerConnectionError` unless the broker answers."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The broker must not be used afterwards."""


# --- inspection values -------------------------------------------------------------------------


@attrs.frozen
class QueueStats:
    """One queue at one instant."""

    queue: str
    sizes: Mapping[TaskState, int]
    """Tasks per state; every state but aggregating is present."""
    processed_today: int
    failed_today: int
    processed_total: int
    failed_total: int
    paused: bool
    oldest_pending_since: float | None
    """Unix seconds since the oldest pending task has waited; None when none is pending."""
    memory_usage: int | None
    """Estimated bytes of the queue's keys (task hashes sampled); None when unknown."""


@attrs.frozen
class DailyCounts:
    day: str
    """A UTC date as YYYY-MM-DD."""
    processed: int
    failed: int


@attrs.frozen
class TaskRecord:
    """A stored task, for the inspector."""

    message: TaskMessage
    state: TaskState
    score: float | None
    """Unix seconds of its index entry: due time (scheduled, retry), lease expiry (active),
    archive time (archived), end of retention (completed); None otherwise or without one."""
    pending_since: float | None
    result: bytes | None


@attrs.frozen
class ServerRecord:
    server: ServerState
    workers: Sequence[WorkerState]


@attrs.frozen
class BrokerInfo:
    """The storage server's own figures; None where it does not report them."""

    address: str
    version: str | None = None
    uptime_seconds: int | None = None
    connected_clients: int | None = None
    used_memory: int | None = None
    used_memory_human: str | None = None
    used_memory_peak_human: str | None = None
