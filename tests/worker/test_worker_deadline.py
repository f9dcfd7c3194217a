"""Timeouts, deadlines and cancellation: the run fails, the handler is stopped, the pool stays whole."""

from __future__ import annotations

import threading
import time

import pytest

import asynq
from asynq.brokers.redis import keys
from worker_support import Env, wait_until


def _spin(task: asynq.Task) -> None:
    while True:  # pure Python, never looks at task.cancelled
        pass


def _sleep_loop(task: asynq.Task) -> None:
    while True:
        time.sleep(0.01)


@pytest.mark.parametrize("hang", [_spin, _sleep_loop], ids=["busy-loop", "sleep-loop"])
def test_handler_past_its_timeout_fails_and_the_next_task_runs(env: Env, hang) -> None:
    hung: list[asynq.Task] = []
    done: list[str] = []
    errors: list[BaseException] = []

    def handler(task: asynq.Task) -> None:
        if task.type == "hang":
            hung.append(task)
            hang(task)
        done.append(task.id)

    slow = env.client.enqueue(asynq.Task("hang"), timeout=1)
    nxt = env.client.enqueue(asynq.Task("next"))
    env.start(handler, concurrency=1, error_handler=lambda t, e: errors.append(e))
    wait_until(lambda: slow.id in env.ids(keys.retry("default")), what="the hung task to fail")
    msg = env.message("default", slow.id)
    assert msg.error_msg.startswith("DeadlineExceeded:")
    assert msg.retried == 1
    assert [type(e) for e in errors] == [asynq.DeadlineExceeded]
    assert hung[0].cancelled
    # With one worker slot, the next task still runs: the hung thread's slot was handed on.
    wait_until(lambda: done == [nxt.id], what="the next task to run")
    wait_until(lambda: env.processed() == 2)
    assert env.failed() == 1


def test_deadline_in_the_near_future_fails_the_run(env: Env) -> None:
    hung: list[asynq.Task] = []

    def handler(task: asynq.Task) -> None:
        hung.append(task)
        _sleep_loop(task)

    info = env.client.enqueue(asynq.Task("hang"), deadline=time.time() + 0.5, max_retry=0)
    env.start(handler)
    wait_until(lambda: info.id in env.ids(keys.archived("default")), what="the task to be archived")
    assert env.message("default", info.id).error_msg.startswith("DeadlineExceeded:")
    assert hung[0].cancelled
    assert hung[0].deadline is not None
    assert hung[0].deadline.timestamp() == env.message("default", info.id).deadline


def test_a_handler_that_ignores_the_interrupt_does_not_shrink_the_pool(env: Env) -> None:
    release = threading.Event()
    done: list[str] = []

    def handler(task: asynq.Task) -> None:
        if task.type == "stubborn":
            while not release.is_set():
                try:
                    time.sleep(0.01)
                except BaseException:  # noqa: BLE001 - swallows the worker's interrupt on purpose
                    pass
            return
        done.append(task.id)

    stubborn = env.client.enqueue(asynq.Task("stubborn"), timeout=1)
    later = [env.client.enqueue(asynq.Task("t", i)) for i in range(3)]
    try:
        env.start(handler, concurrency=1)
        wait_until(lambda: stubborn.id in env.ids(keys.retry("default")))
        wait_until(lambda: sorted(done) == sorted(i.id for i in later), what="the other tasks to run")
        # The stubborn handler's eventual return is not recorded: it lost the run.
        assert env.state("default", stubborn.id) == "retry"
    finally:
        release.set()
    wait_until(lambda: env.processed() == 4)


def test_timeout_and_deadline_are_visible_to_the_handler(env: Env) -> None:
    seen: list[asynq.Task] = []
    before = time.time()
    env.client.enqueue(asynq.Task("t"), timeout=60)
    env.start(seen.append)
    wait_until(lambda: len(seen) == 1)
    deadline = seen[0].deadline.timestamp()
    assert before + 60 <= deadline <= time.time() + 60
    assert not seen[0].cancelled


def test_cancellation_ends_the_run_through_the_retry_policy(env: Env) -> None:
    started = threading.Event()
    running: list[asynq.Task] = []

    def handler(task: asynq.Task) -> None:
        running.append(task)
        started.set()
        _sleep_loop(task)

    info = env.client.enqueue(asynq.Task("long"))
    bg = env.start(handler, concurrency=1)
    assert started.wait(5)

    def cancelled() -> bool:
        # The subscriber may not be listening yet: announce until the run ends.
        bg.broker.publish_cancellation(info.id)
        return info.id in env.ids(keys.retry("default"))

    wait_until(cancelled, what="the cancelled run to be retried")
    msg = env.message("default", info.id)
    assert msg.error_msg == f"TaskCanceled: task {info.id} was cancelled"
    assert msg.retried == 1
    assert running[0].cancelled
    assert env.failed() == 1


def test_cancellation_of_an_unknown_task_is_harmless(env: Env) -> None:
    done: list[str] = []
    bg = env.start(done.append)
    bg.broker.publish_cancellation("no-such-task")
    info = env.client.enqueue(asynq.Task("t"))
    wait_until(lambda: len(done) == 1 and env.processed() == 1)
    assert not env.exists("default", info.id)
