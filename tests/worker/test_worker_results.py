"""Results and retention, the sub-second forwarder, the janitor, wake-ups and idle polling."""

from __future__ import annotations

import time

import asynq
from asynq.brokers.base import EnqueueRequest, TaskMessage
from asynq.brokers.redis import codec, keys
from worker_support import Env, wait_until


def test_result_is_kept_with_the_completed_task_when_retained(env: Env) -> None:
    def handler(task: asynq.Task) -> None:
        task.write_result(b"result of " + task.id.encode())

    before = time.time()
    info = env.client.enqueue(asynq.Task("t"), retention=60)
    env.start(handler)
    wait_until(lambda: info.id in env.ids(keys.completed("default")))
    after = time.time()
    stored = env.raw.hgetall(keys.task("default", info.id))
    assert stored[b"result"] == b"result of " + info.id.encode()
    assert stored[b"state"] == b"completed"
    assert b"lease_token" not in stored
    msg = codec.decode_task(stored[b"msg"])
    assert before <= msg.completed_at + 1 and msg.completed_at <= after
    expires = env.score(keys.completed("default"), info.id)
    assert before + 60 <= expires <= after + 60
    assert (env.processed(), env.failed()) == (1, 0)
    assert env.ids(keys.active("default")) == []


def test_without_retention_the_task_and_its_result_are_deleted(env: Env) -> None:
    wrote: list[str] = []

    def handler(task: asynq.Task) -> None:
        task.write_result(b"thrown away")
        wrote.append(task.id)

    info = env.client.enqueue(asynq.Task("t"))
    env.start(handler)
    wait_until(lambda: env.processed() == 1)
    assert wrote == [info.id]
    assert not env.exists("default", info.id)
    assert env.ids(keys.completed("default")) == []


def test_result_written_by_a_failed_run_stays_with_the_retried_task(env: Env) -> None:
    def handler(task: asynq.Task) -> None:
        task.write_result(b"partial")
        raise RuntimeError("then failed")

    info = env.client.enqueue(asynq.Task("t"), retention=60)
    env.start(handler)
    wait_until(lambda: info.id in env.ids(keys.retry("default")))
    assert env.raw.hget(keys.task("default", info.id), "result") == b"partial"


def test_scheduled_task_runs_promptly_with_a_short_forward_interval(env: Env) -> None:
    started: list[float] = []
    env.start(lambda t: started.append(time.time()), forward_interval=0.1)
    info = env.client.enqueue(asynq.Task("t"), process_in=0.3)
    assert info.state is asynq.TaskState.SCHEDULED
    assert env.ids(keys.scheduled("default")) == [info.id]
    # Hang guard only: due in 0.3 s, forwarded within 0.1 s of that.
    wait_until(lambda: started, timeout=1.2, what="the scheduled task to run")
    assert started[0] >= info.next_process_at.timestamp()
    wait_until(lambda: env.processed() == 1)


def test_janitor_deletes_completed_tasks_when_their_retention_ends(env: Env) -> None:
    info = env.client.enqueue(asynq.Task("t"), retention=1)
    env.start(lambda t: t.write_result(b"r"), janitor_interval=0.2)
    wait_until(lambda: info.id in env.ids(keys.completed("default")))
    assert env.exists("default", info.id)
    wait_until(lambda: not env.exists("default", info.id), timeout=4, what="the janitor to delete it")
    assert env.ids(keys.completed("default")) == []
    assert env.processed() == 1


def test_task_pushed_without_a_wakeup_is_found_by_idle_polling(env: Env) -> None:
    """A producer that announces nothing (Go asynq's) is still served, every idle_poll_interval."""
    done: list[str] = []
    env.start(lambda t: done.append(t.id), idle_poll_interval=0.1)
    wait_until(lambda: env.raw.zcard(keys.ALL_SERVERS) == 1)  # up and idle
    msg = TaskMessage(type="go:task", payload=b"{}", id="from-go", queue="default")
    env.raw.hset(keys.task("default", msg.id), mapping={"msg": codec.encode_task(msg), "state": "pending"})
    env.raw.lpush(keys.pending("default"), msg.id)
    wait_until(lambda: done == ["from-go"])


def test_many_tasks_all_processed_once(env: Env) -> None:
    done: list[int] = []
    env.start(lambda t: done.append(t.payload.get_int("n")), concurrency=4)
    env.client.enqueue_many([asynq.Task("t", {"n": i}) for i in range(200)])
    wait_until(lambda: len(done) == 200 and env.processed() == 200, timeout=10)
    assert sorted(done) == list(range(200))
    for key in (keys.pending, keys.active, keys.lease, keys.retry):
        assert env.ids(key("default")) == []


def test_broker_enqueue_request_scheduled_in_the_past_is_pending(env: Env) -> None:
    done: list[str] = []
    env.start(lambda t: done.append(t.id))
    msg = TaskMessage(type="t", payload=b"", id="late", queue="default")
    env.client.broker.enqueue(EnqueueRequest(msg, process_at=time.time() - 10), now=time.time())
    wait_until(lambda: done == ["late"])
