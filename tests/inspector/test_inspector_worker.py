"""The inspector watching and steering a real Background worker, with tasks in every state
that the worker itself put there."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from inspector_world import Q, S, sizes, sizes_of

from asynq import Background, Client, Config, Inspector, QueueNotEmptyError, Task, TaskStateError
from asynq.brokers.base import Broker
from testkit import wait_until

TIMEOUT = 15.0


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    return wait_until(condition, timeout=TIMEOUT, what=what, interval=0.02)


def test_inspect_and_steer_a_live_worker(broker: Broker) -> None:
    release = threading.Event()

    def handler(task: Task) -> None:
        if task.type == "hang":
            while not release.wait(0.01):
                pass
        elif task.type.startswith("fail"):
            raise RuntimeError("boom")
        else:
            task.write_result(b"done")

    config = Config(
        concurrency=4,
        queues={Q: 1},
        retry_delay_func=lambda n, error, task: 3600 if task.type == "fail:later" else 0,
        heartbeat_interval=0.1,
        lease_duration=5,
        forward_interval=0.05,
        recover_interval=0.2,
        janitor_interval=0.5,
        idle_poll_interval=0.05,
        shutdown_timeout=2,
    )
    client = Client(broker)
    inspector = Inspector(broker)
    hang = client.enqueue(Task("hang"), max_retry=0)
    kept = client.enqueue(Task("ok", {"keep": True}), retention=3600)
    client.enqueue(Task("ok", {"keep": False}))
    dead = client.enqueue(Task("fail:now"), max_retry=0)
    flaky = client.enqueue(Task("fail:fast"), max_retry=2)
    later = client.enqueue(Task("fail:later"), max_retry=3)
    scheduled = client.enqueue(Task("ok", {"when": "later"}), process_in=3600)
    bg = Background(broker, config)
    bg.start(handler)
    try:
        steady = sizes_of(active=1, scheduled=1, retry=1, archived=2, completed=1)
        wait_for(lambda: sizes(inspector) == steady, f"the worker to reach {steady}")
        wait_for(
            lambda: [w.task_id for s in inspector.servers() for w in s.active_workers] == [hang.id], "the heartbeat"
        )

        assert inspector.pause_queue(Q)
        waiting = [client.enqueue(Task("ok", {"i": i})).id for i in range(2)]
        time.sleep(0.2)  # the worker must leave them alone
        info = inspector.get_queue_info(Q)
        assert sizes(inspector) == {**steady, S.PENDING: 2}
        assert (info.paused, info.processed, info.failed, info.processed_total, info.failed_total) == (True, 7, 5, 7, 5)
        assert info.latency >= dt.timedelta(seconds=0.2)
        assert inspector.history(Q, days=2)[0].processed == 7
        assert inspector.queues() == [Q]

        listed = {
            S.PENDING: inspector.list_pending_tasks(Q),
            S.ACTIVE: inspector.list_active_tasks(Q),
            S.SCHEDULED: inspector.list_scheduled_tasks(Q),
            S.RETRY: inspector.list_retry_tasks(Q),
            S.ARCHIVED: inspector.list_archived_tasks(Q),
            S.COMPLETED: inspector.list_completed_tasks(Q),
        }
        assert {state: sorted(t.id for t in tasks) for state, tasks in listed.items()} == {
            S.PENDING: sorted(waiting),
            S.ACTIVE: [hang.id],
            S.SCHEDULED: [scheduled.id],
            S.RETRY: [later.id],
            S.ARCHIVED: sorted([dead.id, flaky.id]),
            S.COMPLETED: [kept.id],
        }
        assert [t.id for t in listed[S.PENDING]] == waiting
        assert not listed[S.ACTIVE][0].is_orphaned
        assert listed[S.COMPLETED][0].result == b"done"
        archived = {t.id: t for t in listed[S.ARCHIVED]}
        assert {t.last_error for t in archived.values()} == {"RuntimeError: boom"}
        assert archived[flaky.id].retried - archived[dead.id].retried == 2  # two fast retries
        assert listed[S.RETRY][0].next_process_at > dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=59)
        for state, tasks in listed.items():
            for task in tasks:
                got = inspector.get_task_info(Q, task.id)
                assert (got.id, got.state, got.type, got.retried) == (task.id, state, task.type, task.retried)

        (server,) = inspector.servers()
        assert (server.host, server.pid, server.concurrency, server.queues, server.status) == (
            socket.gethostname(),
            os.getpid(),
            4,
            {Q: 1},
            "active",
        )
        assert inspector.current_stats().by_state == {**steady, S.PENDING: 2}

        with pytest.raises(TaskStateError, match="it is active"):
            inspector.delete_task(Q, hang.id)
        with pytest.raises(QueueNotEmptyError, match="active"):
            inspector.delete_queue(Q, force=True)

        inspector.cancel_processing(hang.id)
        wait_for(lambda: inspector.get_task_info(Q, hang.id).state is S.ARCHIVED, "the cancelled task to be archived")
        assert "cancelled" in inspector.get_task_info(Q, hang.id).last_error
        wait_for(lambda: inspector.servers()[0].active_workers == (), "the heartbeat to drop the worker")

        with pytest.raises(QueueNotEmptyError, match="holds 8 task"):
            inspector.delete_queue(Q)
        assert inspector.run_all_archived_tasks(Q) == 3
        release.set()
        assert inspector.unpause_queue(Q)
        # hang and the waiting tasks succeed; dead and flaky have no retries left.
        wait_for(
            lambda: sizes(inspector) == sizes_of(scheduled=1, retry=1, archived=2, completed=1), "the worker to drain"
        )

        assert inspector.delete_all_archived_tasks(Q) == 2
        assert inspector.delete_all_completed_tasks(Q) == 1
        assert inspector.delete_all_retry_tasks(Q) == 1
        assert inspector.delete_all_scheduled_tasks(Q) == 1
        inspector.delete_queue(Q)
        assert inspector.queues() == []
    finally:
        release.set()
        bg.shutdown()
