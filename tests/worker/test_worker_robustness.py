"""Nothing crashes the worker: BaseException from handlers, corrupt messages, broken callbacks."""

from __future__ import annotations

import logging
import time

import pytest

import asynq
from asynq._proto import asynq_pb2
from asynq.brokers.base import EnqueueRequest, TaskMessage
from asynq.brokers.redis import keys
from worker_support import Env, wait_until


class Custom(BaseException):
    pass


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt(), GeneratorExit(), Custom("base")],
                         ids=lambda e: type(e).__name__)
def test_handler_raising_base_exception_is_a_failure_and_the_worker_goes_on(env: Env, error: BaseException) -> None:
    done: list[str] = []

    def handler(task: asynq.Task) -> None:
        if task.type == "bad":
            raise error
        done.append(task.id)

    bad = [env.client.enqueue(asynq.Task("bad", i)) for i in range(2)]  # more failures than threads
    good = env.client.enqueue(asynq.Task("good"))
    env.start(handler, concurrency=1)
    wait_until(lambda: done == [good.id] and len(env.ids(keys.retry("default"))) == 2)
    for info in bad:
        msg = env.message("default", info.id)
        assert msg.error_msg.startswith(type(error).__name__)
        assert msg.retried == 1
    assert (env.processed(), env.failed()) == (3, 2)


def _archived_error(env: Env, task_id: str) -> str:
    pb = asynq_pb2.TaskMessage.FromString(env.raw.hget(keys.task("default", task_id), "msg"))
    return pb.error_msg


@pytest.mark.parametrize(
    "stored",
    [{"msg": b"\xff\xff\xff\xff not protobuf", "state": "pending"}, {"msg": b"", "state": "pending"}, None],
    ids=["garbage", "empty", "no-hash"],
)
def test_corrupt_message_is_archived_and_other_tasks_still_run(
    env: Env, stored: dict | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asynq")
    done: list[str] = []
    before = env.client.enqueue(asynq.Task("t", 1))
    if stored is not None:
        env.raw.hset(keys.task("default", "corrupt-1"), mapping=stored)
    env.raw.lpush(keys.pending("default"), "corrupt-1")
    after = env.client.enqueue(asynq.Task("t", 2))
    env.start(lambda t: done.append(t.id), concurrency=1)
    wait_until(lambda: sorted(done) == sorted([before.id, after.id]))
    # The handler ran; its success is written a moment later, in the next settle batch.
    wait_until(lambda: not env.exists("default", before.id) and not env.exists("default", after.id),
               what="both good tasks settled")
    wait_until(lambda: env.ids(keys.archived("default")) == ["corrupt-1"])
    assert "corrupt" in _archived_error(env, "corrupt-1")
    assert env.state("default", "corrupt-1") == "archived"
    assert env.ids(keys.active("default")) == [] and env.ids(keys.lease("default")) == []
    assert not [r for r in caplog.records if r.exc_info]


def test_error_handler_raising_base_exception_does_not_kill_the_worker(env: Env) -> None:
    def error_handler(task: asynq.Task, error: BaseException) -> None:
        raise SystemExit("error handler exits")

    def handler(task: asynq.Task) -> None:
        if task.type == "bad":
            raise RuntimeError("bad")

    bad = [env.client.enqueue(asynq.Task("bad", i)) for i in range(3)]
    good = env.client.enqueue(asynq.Task("good"))
    env.start(handler, concurrency=1, error_handler=error_handler)
    wait_until(lambda: len(env.ids(keys.retry("default"))) == 3 and env.processed() == 4,
               what="every task settled although the error handler raises")
    assert not env.exists("default", good.id)
    assert all(env.state("default", b.id) == "retry" for b in bad)


def test_is_failure_that_raises_does_not_lose_the_task(env: Env) -> None:
    def is_failure(error: BaseException) -> bool:
        raise ValueError("broken is_failure")

    def handler(task: asynq.Task) -> None:
        if task.type == "bad":
            raise RuntimeError("bad")

    bad = env.client.enqueue(asynq.Task("bad"))
    good = env.client.enqueue(asynq.Task("good"))
    env.start(handler, concurrency=1, is_failure=is_failure)
    wait_until(lambda: bad.id in env.ids(keys.retry("default")) and not env.exists("default", good.id),
               what="the failed task retried and the next one processed")
    assert env.ids(keys.active("default")) == []


def _store(env: Env, *messages: TaskMessage) -> None:
    """Store messages as another producer might (no client-side validation)."""
    for msg in messages:
        env.client.broker.enqueue(EnqueueRequest(msg), now=time.time())


UNUSABLE = [
    TaskMessage(type="   ", payload=b"", id="blank-type", queue="default"),
    TaskMessage(type="t", payload=b"", id="huge-timeout", queue="default", timeout=2**62),
]


@pytest.mark.parametrize("msg", UNUSABLE, ids=lambda m: m.id)
def test_message_no_handler_can_get_is_archived_and_the_pool_stays_whole(env: Env, msg: TaskMessage) -> None:
    done: list[str] = []
    _store(env, msg)
    good = env.client.enqueue(asynq.Task("good"))
    env.start(lambda t: done.append(t.id), concurrency=1)
    wait_until(lambda: done == [good.id], what="the next task to run on the one worker thread")
    # The handler ran; its success is written a moment later, in the next settle batch.
    wait_until(lambda: not env.exists("default", good.id), what="the good task settled")
    wait_until(lambda: env.ids(keys.archived("default")) == [msg.id])
    assert "corrupt" in _archived_error(env, msg.id)
    assert env.ids(keys.active("default")) == []


def test_recoverer_archives_an_unusable_expired_task_and_recovers_the_others(env: Env) -> None:
    _store(env, UNUSABLE[0])
    normal = env.client.enqueue(asynq.Task("t"))
    now = time.time()
    # A worker took both with a lease that has already run out, then died.
    taken = env.client.broker.dequeue(["default"], 2, now=now, lease_until=now - 1)
    assert len(taken) == 2
    ran: list[tuple[str, int]] = []
    env.start(lambda t: ran.append((t.id, t.retry_count)), recover_interval=0.1)
    wait_until(lambda: ran == [(normal.id, 1)] and env.ids(keys.archived("default")) == [UNUSABLE[0].id])
    wait_until(lambda: not env.exists("default", normal.id), what="the recovered task settled")
    assert "corrupt" in _archived_error(env, UNUSABLE[0].id)
    assert env.ids(keys.active("default")) == [] and env.ids(keys.lease("default")) == []
