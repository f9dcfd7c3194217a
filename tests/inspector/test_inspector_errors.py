"""Inspector misuse: unknown queues and tasks, bad arguments, states an operation skips; and
the inspector's broker ownership."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from inspector_world import Q, S

from asynq import (
    Client,
    Inspector,
    MemoryBroker,
    QueueNotFoundError,
    Task,
    TaskNotFoundError,
)
from asynq.brokers.base import Broker

Call = Callable[[Inspector], Any]

ON_UNKNOWN_QUEUE: dict[str, Call] = {
    "get_queue_info": lambda i: i.get_queue_info("nope"),
    "history": lambda i: i.history("nope"),
    "list_pending_tasks": lambda i: i.list_pending_tasks("nope"),
    "list_active_tasks": lambda i: i.list_active_tasks("nope"),
    "list_scheduled_tasks": lambda i: i.list_scheduled_tasks("nope"),
    "list_retry_tasks": lambda i: i.list_retry_tasks("nope"),
    "list_archived_tasks": lambda i: i.list_archived_tasks("nope"),
    "list_completed_tasks": lambda i: i.list_completed_tasks("nope"),
    "get_task_info": lambda i: i.get_task_info("nope", "t1"),
    "run_task": lambda i: i.run_task("nope", "t1"),
    "archive_task": lambda i: i.archive_task("nope", "t1"),
    "delete_task": lambda i: i.delete_task("nope", "t1"),
    "run_all_scheduled_tasks": lambda i: i.run_all_scheduled_tasks("nope"),
    "run_all_retry_tasks": lambda i: i.run_all_retry_tasks("nope"),
    "run_all_archived_tasks": lambda i: i.run_all_archived_tasks("nope"),
    "archive_all_pending_tasks": lambda i: i.archive_all_pending_tasks("nope"),
    "archive_all_scheduled_tasks": lambda i: i.archive_all_scheduled_tasks("nope"),
    "archive_all_retry_tasks": lambda i: i.archive_all_retry_tasks("nope"),
    "delete_all_pending_tasks": lambda i: i.delete_all_pending_tasks("nope"),
    "delete_all_scheduled_tasks": lambda i: i.delete_all_scheduled_tasks("nope"),
    "delete_all_retry_tasks": lambda i: i.delete_all_retry_tasks("nope"),
    "delete_all_archived_tasks": lambda i: i.delete_all_archived_tasks("nope"),
    "delete_all_completed_tasks": lambda i: i.delete_all_completed_tasks("nope"),
    "pause_queue": lambda i: i.pause_queue("nope"),
    "unpause_queue": lambda i: i.unpause_queue("nope"),
    "delete_queue": lambda i: i.delete_queue("nope", force=True),
}


@pytest.mark.parametrize("call", ON_UNKNOWN_QUEUE.values(), ids=ON_UNKNOWN_QUEUE.keys())
def test_unknown_queue(inspector: Inspector, client: Client, db: Any, call: Call) -> None:
    client.enqueue(Task("t"), queue=Q)
    before = sorted(db.keys("*"))
    with pytest.raises(QueueNotFoundError, match="queue 'nope' does not exist"):
        call(inspector)
    assert sorted(db.keys("*")) == before  # nothing was created


ON_UNKNOWN_TASK: dict[str, Call] = {
    "get_task_info": lambda i: i.get_task_info(Q, "missing"),
    "run_task": lambda i: i.run_task(Q, "missing"),
    "archive_task": lambda i: i.archive_task(Q, "missing"),
    "delete_task": lambda i: i.delete_task(Q, "missing"),
}


@pytest.mark.parametrize("call", ON_UNKNOWN_TASK.values(), ids=ON_UNKNOWN_TASK.keys())
def test_unknown_task(inspector: Inspector, client: Client, call: Call) -> None:
    client.enqueue(Task("t"), queue=Q)
    with pytest.raises(TaskNotFoundError, match="no task 'missing' in queue 'default'"):
        call(inspector)


BAD_ARGUMENTS: dict[str, tuple[Call, type[Exception], str]] = {
    "page 0": (lambda i: i.list_pending_tasks(Q, page=0), ValueError, "page must be at least 1"),
    "page_size 0": (lambda i: i.list_retry_tasks(Q, page_size=0), ValueError, "page_size must be at least 1"),
    "page as str": (lambda i: i.list_archived_tasks(Q, page="2"), TypeError, "page must be an int"),
    "days 0": (lambda i: i.history(Q, days=0), ValueError, "days must be at least 1"),
    "days negative": (lambda i: i.history(Q, days=-3), ValueError, "days must not be negative"),
    "queue with braces": (lambda i: i.get_queue_info("a{b}"), ValueError, "queue name must not contain"),
    "empty queue": (lambda i: i.pause_queue(""), ValueError, "queue name must be a non-empty string"),
    "queue not a str": (lambda i: i.delete_queue(None), ValueError, "queue name must be a non-empty string"),
    "empty task ID": (lambda i: i.get_task_info(Q, ""), ValueError, "task ID must be a non-empty string"),
    "task ID with braces": (lambda i: i.delete_task(Q, "x}"), ValueError, "task ID must not contain"),
    "cancel without ID": (lambda i: i.cancel_processing(" "), ValueError, "task ID must be a non-empty string"),
}


@pytest.mark.parametrize("call, error, message", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_arguments(inspector: Inspector, client: Client, call: Call, error: type[Exception], message: str) -> None:
    client.enqueue(Task("t"), queue=Q)
    with pytest.raises(error, match=message):
        call(inspector)


@pytest.mark.parametrize(
    "operation, state",
    [("run_all", S.PENDING), ("run_all", S.ACTIVE), ("archive_all", S.ARCHIVED), ("delete_all", S.ACTIVE)],
)
def test_broker_refuses_bulk_changes_a_state_skips(broker: Broker, client: Client, operation: str, state: Any) -> None:
    client.enqueue(Task("t"), queue=Q)
    kwargs = {} if operation == "delete_all" else {"now": 0.0}
    with pytest.raises(ValueError, match=f"cannot {operation.split('_')[0]} {state.value} tasks"):
        getattr(broker, operation)(Q, state, **kwargs)


def test_broker_cannot_list_aggregating_tasks(broker: Broker) -> None:
    with pytest.raises(ValueError, match="cannot list aggregating tasks"):
        broker.list_tasks(Q, S.AGGREGATING, offset=0, count=10)


def test_closes_only_the_broker_it_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[Broker] = []
    monkeypatch.setattr(MemoryBroker, "close", lambda self: closed.append(self))
    given = MemoryBroker()
    with Inspector(given) as inspector:
        assert inspector.broker is given
    assert closed == []
    with Inspector("memory://inspector-ownership") as inspector:
        assert repr(inspector) == "<Inspector <MemoryBroker memory>>"
    assert closed == [inspector.broker]


def test_opens_a_redis_url(redis_url: str) -> None:
    with Client(redis_url) as client, Inspector(redis_url) as inspector:
        client.enqueue(Task("t"), queue="critical")
        assert inspector.queues() == ["critical"]
