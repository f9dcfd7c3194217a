"""Retries: the default backoff, a custom delay up to the archive, SkipRetry, RevokeTask, NoHandlerError."""

from __future__ import annotations

import time

import asynq
from asynq.brokers.redis import keys
from worker_support import Env, wait_until


def always_fail(task: asynq.Task) -> None:
    raise RuntimeError(f"attempt {task.retry_count + 1}")


def test_default_delay_follows_the_backoff_formula(env: Env) -> None:
    seen: list[int] = []

    def handler(task: asynq.Task) -> None:
        seen.append(task.retry_count)
        always_fail(task)

    info = env.client.enqueue(asynq.Task("t"))
    retry = keys.retry("default")
    env.start(handler)  # the default retry_delay_func
    for n in range(3):
        before = time.time()
        if n:
            env.raw.zadd(retry, {info.id: 0})  # due now: the forwarder brings it back
        wait_until(lambda: info.id in env.ids(retry) and env.message("default", info.id).retried == n + 1,
                   what=f"retry number {n + 1}")
        after = time.time()
        delay_low, delay_high = n**4 + 15, n**4 + 15 + 29 * (n + 1)
        score = env.score(retry, info.id)
        assert before + delay_low <= score <= after + delay_high, (n, score - before)
        assert env.message("default", info.id).error_msg == f"RuntimeError: attempt {n + 1}"
        assert env.state("default", info.id) == "retry"
    assert seen == [0, 1, 2]
    assert (env.processed(), env.failed()) == (3, 3)


def test_custom_delay_retries_up_to_the_archive_with_last_error(env: Env) -> None:
    seen: list[tuple[int, int]] = []

    def handler(task: asynq.Task) -> None:
        seen.append((task.retry_count, task.max_retry))
        always_fail(task)

    info = env.client.enqueue(asynq.Task("t"), max_retry=3)
    env.start(handler, retry_delay_func=lambda n, exc, task: 0, forward_interval=0.1)
    wait_until(lambda: info.id in env.ids(keys.archived("default")), what="the task to be archived")
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    msg = env.message("default", info.id)
    assert msg.error_msg == "RuntimeError: attempt 4"
    assert msg.retried == 3  # archiving does not count a retry (as in Go asynq)
    assert msg.last_failed_at > 0
    assert env.state("default", info.id) == "archived"
    assert env.ids(keys.retry("default")) == []
    assert (env.processed(), env.failed()) == (4, 4)


def test_max_retry_zero_archives_after_one_run(env: Env) -> None:
    runs: list[str] = []
    info = env.client.enqueue(asynq.Task("t"), max_retry=0)
    env.start(lambda t: (runs.append(t.id), always_fail(t)))
    wait_until(lambda: info.id in env.ids(keys.archived("default")))
    assert runs == [info.id]
    assert env.message("default", info.id).error_msg == "RuntimeError: attempt 1"


def test_skip_retry_archives_at_once(env: Env) -> None:
    runs: list[str] = []

    def handler(task: asynq.Task) -> None:
        runs.append(task.id)
        raise asynq.SkipRetry("bad input, do not retry")

    info = env.client.enqueue(asynq.Task("t"), max_retry=10)
    env.start(handler, retry_delay_func=lambda n, exc, task: 0)
    wait_until(lambda: info.id in env.ids(keys.archived("default")))
    assert runs == [info.id]
    assert env.message("default", info.id).error_msg == "SkipRetry: bad input, do not retry"
    assert env.ids(keys.retry("default")) == []
    assert (env.processed(), env.failed()) == (1, 1)


def test_revoke_task_drops_it_counted_as_processed_not_failed(env: Env) -> None:
    runs: list[str] = []

    def handler(task: asynq.Task) -> None:
        runs.append(task.id)
        raise asynq.RevokeTask("no longer wanted")

    plain = env.client.enqueue(asynq.Task("t", 1))
    retained = env.client.enqueue(asynq.Task("t", 2), retention=3600)  # dropped all the same
    env.start(handler, retry_delay_func=lambda n, exc, task: 0)
    wait_until(lambda: env.processed() == 2)
    assert sorted(runs) == sorted([plain.id, retained.id])
    assert env.failed() == 0
    for info in (plain, retained):
        assert not env.exists("default", info.id)
    for key in (keys.pending, keys.active, keys.lease, keys.retry, keys.archived, keys.completed):
        assert env.ids(key("default")) == [], key


def test_no_handler_error_from_mux_goes_through_retries(env: Env) -> None:
    mux = asynq.ServeMux()
    handled: list[str] = []
    mux.handle_func("email:", lambda t: handled.append(t.type))
    routed = env.client.enqueue(asynq.Task("email:welcome"))
    unrouted = env.client.enqueue(asynq.Task("sms:welcome"), max_retry=2)
    env.start(mux, retry_delay_func=lambda n, exc, task: 0)
    wait_until(lambda: unrouted.id in env.ids(keys.archived("default")))
    assert handled == ["email:welcome"]
    assert not env.exists("default", routed.id)
    msg = env.message("default", unrouted.id)
    assert msg.retried == 2  # three runs: two retries, then the archive (which counts none)
    assert msg.error_msg.startswith("NoHandlerError: no handler registered for task type 'sms:welcome'")
    assert (env.processed(), env.failed()) == (4, 3)


def test_handler_object_with_process_task(env: Env) -> None:
    class Handler:
        def __init__(self) -> None:
            self.ids: list[str] = []

        def process_task(self, task: asynq.Task) -> None:
            self.ids.append(task.id)

    handler = Handler()
    info = env.client.enqueue(asynq.Task("t"))
    env.start(handler)
    wait_until(lambda: handler.ids == [info.id] and env.processed() == 1)
