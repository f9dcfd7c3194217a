"""The seeded world of the inspector tests: queue ``default`` with tasks in every state, put
there by real operations (the client, and the broker protocol as a worker drives it, with the
fake clock's time)."""

from __future__ import annotations

import datetime as dt

import attrs

from asynq import Client, Inspector, Task, TaskState
from asynq.brokers.base import Broker, TaskMessage
from asynq.testing import FakeClock

S = TaskState
Q = "default"
LEASE = 30.0
RETRY_IN = 600.0
SCHEDULED_IN = 3600.0
RETENTION = 3600
SIZED = (S.PENDING, S.ACTIVE, S.SCHEDULED, S.RETRY, S.ARCHIVED, S.COMPLETED)
"""The states QueueInfo has a count field for."""


def utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def sizes(inspector: Inspector, queue: str = Q) -> dict[TaskState, int]:
    """The queue's task count per state, from the inspector."""
    info = inspector.get_queue_info(queue)
    return {state: getattr(info, state.value) for state in SIZED}


def sizes_of(**counts: int) -> dict[TaskState, int]:
    """A per-state count like ``sizes`` returns; states not named are 0."""
    return {state: counts.get(state.value, 0) for state in SIZED}


@attrs.frozen
class World:
    """IDs of the seeded tasks by state, and when each step happened."""

    ids: dict[TaskState, list[str]]
    orphan: str
    """The active task whose lease expired."""
    unique: str
    """A pending task holding a uniqueness lock."""
    seeded_at: float
    """When the failures and the success were recorded (and the pending tasks enqueued)."""


def seed(client: Client, broker: Broker, clock: FakeClock, queue: str = Q) -> World:
    """Produce two pending, two active (one orphaned), one scheduled, retry, archived and
    completed task in ``queue``, each by the operation that puts a task in that state."""
    orphan = client.enqueue(Task("work:orphan", {"n": 0}), queue=queue).id
    assert len(broker.dequeue([queue], 1, now=clock.now(), lease_until=clock.now() + 5)) == 1
    clock.advance(10)  # the orphan's lease is gone
    now = clock.now()
    names = ["active", "retry", "archived", "completed"]
    taken = {n: client.enqueue(Task(f"work:{n}", {"n": n}), queue=queue, retention=RETENTION).id for n in names}
    leases = {lease.message.id: lease for lease in broker.dequeue([queue], 4, now=now, lease_until=now + LEASE)}

    def failed(task_id: str) -> TaskMessage:
        m = leases[task_id].message
        return attrs.evolve(m, retried=m.retried + 1, error_msg="RuntimeError: boom", last_failed_at=int(now))

    assert broker.retry(
        leases[taken["retry"]], failed(taken["retry"]), retry_at=now + RETRY_IN, is_failure=True, now=now
    )
    assert broker.archive(leases[taken["archived"]], failed(taken["archived"]), now=now)
    assert broker.write_result(leases[taken["completed"]], b"the result")
    assert broker.succeed(leases[taken["completed"]], now=now)
    pending = client.enqueue(Task("work:pending", {"n": 1}), queue=queue).id
    unique = client.enqueue(Task("work:unique", {"n": 2}), queue=queue, unique=3600).id
    scheduled = client.enqueue(Task("work:later", {"n": 3}), queue=queue, process_in=SCHEDULED_IN).id
    return World(
        ids={
            S.PENDING: [pending, unique],
            S.ACTIVE: [orphan, taken["active"]],
            S.SCHEDULED: [scheduled],
            S.RETRY: [taken["retry"]],
            S.ARCHIVED: [taken["archived"]],
            S.COMPLETED: [taken["completed"]],
        },
        orphan=orphan,
        unique=unique,
        seeded_at=now,
    )
