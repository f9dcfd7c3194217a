"""Inspector task operations on a queue holding tasks in every state: list, get, and run,
archive or delete one task or all tasks of a state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import fakeredis
import pytest
from inspector_world import RETENTION, RETRY_IN, SCHEDULED_IN, Q, S, World, sizes, sizes_of, utc

from asynq import Client, Inspector, MemoryBroker, Task, TaskDetails, TaskNotFoundError, TaskState, TaskStateError
from asynq.brokers.base import Broker
from asynq.brokers.redis import inspect, keys
from asynq.testing import FakeClock

SEEDED = sizes_of(pending=2, active=2, scheduled=1, retry=1, archived=1, completed=1)
LIST: dict[TaskState, Callable[..., list[TaskDetails]]] = {
    S.PENDING: Inspector.list_pending_tasks,
    S.ACTIVE: Inspector.list_active_tasks,
    S.SCHEDULED: Inspector.list_scheduled_tasks,
    S.RETRY: Inspector.list_retry_tasks,
    S.ARCHIVED: Inspector.list_archived_tasks,
    S.COMPLETED: Inspector.list_completed_tasks,
}


def shifted(moves: dict[TaskState, int]) -> dict[TaskState, int]:
    """The seeded sizes changed by ``moves``."""
    return {state: n + moves.get(state, 0) for state, n in SEEDED.items()}


def expected_fields(world: World, state: TaskState) -> dict[str, list[Any]]:
    """What each listed task of ``state`` shows, in list order."""
    t0 = utc(world.seeded_at)
    failed = {"retried": [1], "last_error": ["RuntimeError: boom"], "last_failed_at": [t0]}
    return {
        S.PENDING: {"type": ["work:pending", "work:unique"], "next_process_at": [t0, t0], "is_orphaned": [False] * 2},
        S.ACTIVE: {"type": ["work:orphan", "work:active"], "next_process_at": [None] * 2, "is_orphaned": [True, False]},
        S.SCHEDULED: {"type": ["work:later"], "next_process_at": [utc(world.seeded_at + SCHEDULED_IN)]},
        S.RETRY: {"type": ["work:retry"], "next_process_at": [utc(world.seeded_at + RETRY_IN)], **failed},
        S.ARCHIVED: {"type": ["work:archived"], "next_process_at": [None], **failed},
        S.COMPLETED: {
            "type": ["work:completed"],
            "result": [b"the result"],
            "completed_at": [t0],
            "retention": [dt.timedelta(seconds=RETENTION)],
            "last_error": [""],
        },
    }[state]


@pytest.mark.parametrize("state", list(LIST), ids=lambda s: s.value)
def test_list_and_get_each_state(inspector: Inspector, world: World, state: TaskState) -> None:
    tasks = LIST[state](inspector, Q)
    assert [t.id for t in tasks] == world.ids[state]
    assert {(t.state, t.queue) for t in tasks} == {(state, Q)}
    expected = expected_fields(world, state)
    assert {field: [getattr(t, field) for t in tasks] for field in expected} == expected
    assert [inspector.get_task_info(Q, t.id) for t in tasks] == tasks


def test_listed_task_carries_its_message(inspector: Inspector, client: Client) -> None:
    sent = client.enqueue(Task("email:send", {"to": "ada"}, headers={"trace": "x"}), max_retry=3, timeout=60, queue=Q)
    (task,) = inspector.list_pending_tasks(Q)
    assert (task.type, task.payload.get_str("to"), task.headers) == ("email:send", "ada", {"trace": "x"})
    assert (task.max_retry, task.retried, task.timeout, task.result) == (3, 0, dt.timedelta(seconds=60), None)
    assert task.id == sent.id


def by_index(client: Client, state: TaskState, i: int) -> str:
    """Enqueue the i-th task of a paging test."""
    if state is S.PENDING:
        return client.enqueue(Task("page", {"i": i}), queue=Q).id
    return client.enqueue(Task("page", {"i": i}), queue=Q, process_in=100 + i).id


@pytest.mark.parametrize("state", [S.PENDING, S.SCHEDULED], ids=lambda s: s.value)
def test_pages_in_processing_order(inspector: Inspector, client: Client, state: TaskState) -> None:
    ids = [by_index(client, state, i) for i in range(5)]
    pages = [[t.id for t in LIST[state](inspector, Q, page=p, page_size=2)] for p in (1, 2, 3, 4)]
    assert pages == [ids[0:2], ids[2:4], ids[4:], []]
    assert [t.id for t in LIST[state](inspector, Q)] == ids


GONE = "gone"
SINGLE = [
    ("run", S.SCHEDULED, S.PENDING),
    ("run", S.RETRY, S.PENDING),
    ("run", S.ARCHIVED, S.PENDING),
    ("run", S.PENDING, TaskStateError),
    ("run", S.ACTIVE, TaskStateError),
    ("run", S.COMPLETED, TaskStateError),
    ("archive", S.PENDING, S.ARCHIVED),
    ("archive", S.SCHEDULED, S.ARCHIVED),
    ("archive", S.RETRY, S.ARCHIVED),
    ("archive", S.ACTIVE, TaskStateError),
    ("archive", S.ARCHIVED, TaskStateError),
    ("archive", S.COMPLETED, TaskStateError),
    ("delete", S.PENDING, GONE),
    ("delete", S.SCHEDULED, GONE),
    ("delete", S.RETRY, GONE),
    ("delete", S.ARCHIVED, GONE),
    ("delete", S.COMPLETED, GONE),
    ("delete", S.ACTIVE, TaskStateError),
]
ONE: dict[str, Callable[[Inspector, str, str], None]] = {
    "run": Inspector.run_task,
    "archive": Inspector.archive_task,
    "delete": Inspector.delete_task,
}


@pytest.mark.parametrize("verb, source, outcome", SINGLE, ids=[f"{v}-{s.value}" for v, s, _ in SINGLE])
def test_change_one_task(
    inspector: Inspector, world: World, clock: FakeClock, verb: str, source: TaskState, outcome: Any
) -> None:
    task_id = world.ids[source][-1]
    before = inspector.get_task_info(Q, task_id)
    clock.advance(1)
    if outcome is TaskStateError:
        with pytest.raises(
            TaskStateError, match=rf"cannot {verb} task '{task_id}' in queue '{Q}': it is {source.value}"
        ):
            ONE[verb](inspector, Q, task_id)
        assert inspector.get_task_info(Q, task_id) == before
        assert sizes(inspector) == SEEDED
        return
    ONE[verb](inspector, Q, task_id)
    if outcome == GONE:
        with pytest.raises(TaskNotFoundError):
            inspector.get_task_info(Q, task_id)
        assert sizes(inspector) == shifted({source: -1})
        return
    after = inspector.get_task_info(Q, task_id)
    assert after.state is outcome
    assert task_id in [t.id for t in LIST[outcome](inspector, Q)]
    assert sizes(inspector) == shifted({source: -1, outcome: 1})
    if outcome is S.PENDING:
        assert after.next_process_at == utc(clock.now())


def test_run_task_is_processed_next(inspector: Inspector, world: World, broker: Broker, clock: FakeClock) -> None:
    (archived,) = world.ids[S.ARCHIVED]
    for pending in world.ids[S.PENDING]:
        inspector.archive_task(Q, pending)
    inspector.run_task(Q, archived)
    (lease,) = broker.dequeue([Q], 5, now=clock.now(), lease_until=clock.now() + 30)
    assert lease.message.id == archived


ALL = [
    (Inspector.run_all_scheduled_tasks, S.SCHEDULED, S.PENDING),
    (Inspector.run_all_retry_tasks, S.RETRY, S.PENDING),
    (Inspector.run_all_archived_tasks, S.ARCHIVED, S.PENDING),
    (Inspector.archive_all_pending_tasks, S.PENDING, S.ARCHIVED),
    (Inspector.archive_all_scheduled_tasks, S.SCHEDULED, S.ARCHIVED),
    (Inspector.archive_all_retry_tasks, S.RETRY, S.ARCHIVED),
    (Inspector.delete_all_pending_tasks, S.PENDING, None),
    (Inspector.delete_all_scheduled_tasks, S.SCHEDULED, None),
    (Inspector.delete_all_retry_tasks, S.RETRY, None),
    (Inspector.delete_all_archived_tasks, S.ARCHIVED, None),
    (Inspector.delete_all_completed_tasks, S.COMPLETED, None),
]


@pytest.mark.parametrize("method, source, target", ALL, ids=[m.__name__ for m, _, _ in ALL])
def test_change_all_tasks_of_a_state(
    inspector: Inspector,
    world: World,
    method: Callable[[Inspector, str], int],
    source: TaskState,
    target: TaskState | None,
) -> None:
    moved = world.ids[source]
    assert method(inspector, Q) == len(moved)
    assert method(inspector, Q) == 0
    if target is None:
        assert sizes(inspector) == shifted({source: -len(moved)})
        for task_id in moved:
            with pytest.raises(TaskNotFoundError):
                inspector.get_task_info(Q, task_id)
    else:
        assert sizes(inspector) == shifted({source: -len(moved), target: len(moved)})
        assert set(moved) <= {t.id for t in LIST[target](inspector, Q)}


BATCHED = [
    (Inspector.run_all_scheduled_tasks, S.SCHEDULED, S.PENDING),
    (Inspector.archive_all_pending_tasks, S.PENDING, S.ARCHIVED),
    (Inspector.delete_all_pending_tasks, S.PENDING, None),
    (Inspector.delete_all_scheduled_tasks, S.SCHEDULED, None),
]


@pytest.mark.parametrize("method, source, target", BATCHED, ids=[m.__name__ for m, _, _ in BATCHED])
def test_change_all_in_several_batches(
    inspector: Inspector,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    method: Callable[[Inspector, str], int],
    source: TaskState,
    target: TaskState | None,
) -> None:
    monkeypatch.setattr(inspect, "BULK_BATCH", 3)
    ids = [by_index(client, source, i) for i in range(7)]
    assert method(inspector, Q) == 7
    info = inspector.get_queue_info(Q)
    assert getattr(info, source.value) == 0
    assert info.size == (7 if target else 0)
    if target:
        assert sorted(t.id for t in LIST[target](inspector, Q)) == sorted(ids)


def test_archive_all_trims_the_archive(clock: FakeClock) -> None:
    small = MemoryBroker(archive_max_size=3)
    client = Client(small, clock=clock)
    for i in range(5):
        client.enqueue(Task("t", {"i": i}), queue=Q)
    inspector = Inspector(small, clock=clock)
    assert inspector.archive_all_pending_tasks(Q) == 5
    info = inspector.get_queue_info(Q)
    assert (info.archived, info.size) == (3, 3)
    assert len(fakeredis.FakeRedis(server=small.server).keys(keys.task_prefix(Q) + "*")) == 3


@pytest.mark.parametrize("delete", ["one", "all"])
def test_delete_releases_the_uniqueness_lock(
    inspector: Inspector, world: World, client: Client, db: Any, delete: str
) -> None:
    lock = keys.unique(Q, "work:unique", Task("work:unique", {"n": 2}).payload.raw)
    assert db.get(lock) == world.unique.encode()
    if delete == "one":
        inspector.delete_task(Q, world.unique)
    else:
        inspector.delete_all_pending_tasks(Q)
    assert db.exists(lock) == 0
    client.enqueue(Task("work:unique", {"n": 2}), queue=Q, unique=3600)


def test_delete_keeps_a_lock_another_task_holds(inspector: Inspector, world: World, client: Client, db: Any) -> None:
    lock = keys.unique(Q, "work:unique", Task("work:unique", {"n": 2}).payload.raw)
    db.delete(lock)  # as if it expired
    newer = client.enqueue(Task("work:unique", {"n": 2}), queue=Q, unique=3600).id
    inspector.delete_task(Q, world.unique)
    assert db.get(lock) == newer.encode()


def test_corrupt_message_is_shown_not_fatal(inspector: Inspector, broker: Broker, clock: FakeClock, db: Any) -> None:
    db.sadd(keys.ALL_QUEUES, Q)
    db.hset(keys.task(Q, "bad"), mapping={"msg": b"\xffnot a message", "state": "pending"})
    db.lpush(keys.pending(Q), "bad")
    (shown,) = inspector.list_pending_tasks(Q)
    assert (shown.id, shown.type, shown.state) == ("bad", "", S.PENDING)
    assert "cannot decode" in shown.last_error
    assert broker.dequeue([Q], 1, now=clock.now(), lease_until=clock.now() + 30) == []  # archived
    (archived,) = inspector.list_archived_tasks(Q)
    assert archived.id == "bad" and archived.last_error
    assert inspector.get_task_info(Q, "bad").state is S.ARCHIVED
