"""Every Config option has its effect on a running worker; invalid configs raise at construction."""

from __future__ import annotations

import collections
import datetime as dt
import logging
import random
import socket
import threading
import time
from typing import Any

import pytest

import asynq
from asynq.brokers.redis import keys
from asynq.heartbeat import HealthChecker
from asynq.processor import queue_order
from worker_support import Env, wait_until

# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_runs_exactly_n_tasks_at_once(env: Env, concurrency: int) -> None:
    lock = threading.Lock()
    running = 0
    most = 0
    done: list[str] = []
    gate = threading.Event()
    barrier = threading.Barrier(concurrency, timeout=5)

    def handler(task: asynq.Task) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            if not gate.is_set():
                barrier.wait()  # the first N meet here: all N truly run at the same time
                assert gate.wait(5), "the test never opened the gate"
        finally:
            with lock:
                running -= 1
                done.append(task.id)

    infos = [env.client.enqueue(asynq.Task("t", i)) for i in range(concurrency + 2)]
    env.start(handler, concurrency=concurrency, heartbeat_interval=0.1)

    wait_until(lambda: running == concurrency, what=f"{concurrency} tasks running")
    # Let the heartbeat publish the busy workers twice: time for an extra fetch to show up.
    workers_key = keys.ALL_WORKERS

    def workers_listed() -> int:
        members = env.raw.zrange(workers_key, 0, -1)
        return sum(env.raw.hlen(m) for m in members)

    wait_until(lambda: workers_listed() == concurrency, what="the heartbeat listing the busy workers")
    first = env.raw.zrange(workers_key, 0, -1, withscores=True)[0][1]
    wait_until(lambda: env.raw.zrange(workers_key, 0, -1, withscores=True)[0][1] > first, what="a second heartbeat")
    # No prefetch beyond the free slots: the others are still pending, not leased.
    assert len(env.ids(keys.active("default"))) == concurrency
    assert len(env.ids(keys.pending("default"))) == 2
    assert running == concurrency
    gate.set()
    wait_until(lambda: len(done) == concurrency + 2, what="every task to finish")
    assert sorted(done) == sorted(i.id for i in infos)
    assert most == concurrency


# --- queues and weights ----------------------------------------------------------------------


def test_queue_order_weighted_first_picks_follow_weights() -> None:
    order = queue_order({"a": 6, "b": 3, "c": 1}, strict=False)
    random.seed(20240601)
    rounds = 20_000
    firsts = collections.Counter()
    for _ in range(rounds):
        picked = order()
        assert sorted(picked) == ["a", "b", "c"]  # every queue is tried on every fetch
        firsts[picked[0]] += 1
    shares = {q: firsts[q] / rounds for q in "abc"}
    assert shares["a"] == pytest.approx(0.6, abs=0.02)
    assert shares["b"] == pytest.approx(0.3, abs=0.02)
    assert shares["c"] == pytest.approx(0.1, abs=0.02)


def test_queue_order_strict_is_by_weight_every_time() -> None:
    order = queue_order({"low": 1, "high": 5, "mid": 3}, strict=True)
    assert all(order() == ["high", "mid", "low"] for _ in range(100))


def test_queue_order_single_queue() -> None:
    assert queue_order({"only": 4}, strict=False)() == ["only"]


def test_weighted_queues_all_processed_and_high_weight_first(env: Env) -> None:
    weights = {"a": 6, "b": 3, "c": 1}
    per_queue = 30
    for q in weights:
        env.client.enqueue_many([asynq.Task("t", i) for i in range(per_queue)], queue=q)
    order: list[str] = []
    random.seed(7)
    env.start(lambda task: order.append(task.queue), concurrency=1, queues=weights)
    wait_until(lambda: len(order) == 3 * per_queue, what="every task of every queue")
    assert collections.Counter(order) == {"a": per_queue, "b": per_queue, "c": per_queue}
    # While every queue is full, picks follow the weights (seeded; 6:3:1 expects 18:9:3).
    first = collections.Counter(order[:30])
    assert first["a"] > first["b"] > first["c"]
    assert first["c"] < 10


def test_strict_priority_empties_higher_queue_first(env: Env) -> None:
    for q in ("low", "high", "mid"):
        env.client.enqueue_many([asynq.Task("t", i) for i in range(10)], queue=q)
    order: list[str] = []
    env.start(lambda task: order.append(task.queue), concurrency=1,
              queues={"high": 3, "mid": 2, "low": 1}, strict_priority=True)
    wait_until(lambda: len(order) == 30, what="every task")
    assert order == ["high"] * 10 + ["mid"] * 10 + ["low"] * 10


def test_queue_not_configured_is_not_processed(env: Env) -> None:
    seen: list[str] = []
    other = env.client.enqueue(asynq.Task("t"), queue="other")
    mine = env.client.enqueue(asynq.Task("t"), queue="mine")
    env.start(lambda task: seen.append(task.id), queues={"mine": 1})
    wait_until(lambda: seen == [mine.id])
    wait_until(lambda: env.processed("mine") == 1)
    assert env.ids(keys.pending("other")) == [other.id]


# --- retry_delay_func, is_failure, error_handler ---------------------------------------------


def test_retry_delay_func_sets_the_retry_score(env: Env) -> None:
    calls: list[tuple[int, str, str]] = []

    def delay(n: int, error: BaseException, task: asynq.Task) -> dt.timedelta:
        calls.append((n, str(error), task.id))
        return dt.timedelta(seconds=1000 + n)

    def fail(task: asynq.Task) -> None:
        raise RuntimeError("nope")

    before = time.time()
    info = env.client.enqueue(asynq.Task("t"))
    env.start(fail, retry_delay_func=delay)
    wait_until(lambda: info.id in env.ids(keys.retry("default")))
    after = time.time()
    assert calls == [(0, "nope", info.id)]
    score = env.score(keys.retry("default"), info.id)
    assert before + 1000 <= score <= after + 1000
    msg = env.message("default", info.id)
    assert (msg.retried, msg.error_msg) == (1, "RuntimeError: nope")
    assert env.state("default", info.id) == "retry"


def test_retry_delay_func_that_raises_falls_back_to_default(env: Env) -> None:
    def delay(n: int, error: BaseException, task: asynq.Task) -> float:
        raise ValueError("broken delay function")

    def fail(task: asynq.Task) -> None:
        raise RuntimeError("nope")

    before = time.time()
    info = env.client.enqueue(asynq.Task("t"))
    env.start(fail, retry_delay_func=delay)
    wait_until(lambda: info.id in env.ids(keys.retry("default")))
    after = time.time()
    score = env.score(keys.retry("default"), info.id)
    assert before + 15 <= score <= after + 15 + 29


class Transient(Exception):
    pass


def test_is_failure_false_counts_neither_retry_nor_failure(env: Env) -> None:
    def handler(task: asynq.Task) -> None:
        raise Transient("rate limited") if task.type == "transient" else RuntimeError("real")

    transient = env.client.enqueue(asynq.Task("transient"), queue="q1")
    real = env.client.enqueue(asynq.Task("real"), queue="q2")
    env.start(handler, queues={"q1": 1, "q2": 1}, is_failure=lambda exc: not isinstance(exc, Transient))
    wait_until(lambda: transient.id in env.ids(keys.retry("q1")) and real.id in env.ids(keys.retry("q2")))
    t_msg, r_msg = env.message("q1", transient.id), env.message("q2", real.id)
    assert (t_msg.retried, t_msg.error_msg) == (0, "Transient: rate limited")
    assert (env.processed("q1"), env.failed("q1")) == (0, 0)
    assert (r_msg.retried, r_msg.error_msg) == (1, "RuntimeError: real")
    assert (env.processed("q2"), env.failed("q2")) == (1, 1)


def test_error_handler_gets_task_and_error_and_may_raise(env: Env) -> None:
    seen: list[tuple[str | None, str, str]] = []

    def error_handler(task: asynq.Task, error: BaseException) -> None:
        seen.append((task.id, task.type, repr(error)))
        raise RuntimeError("the error handler itself is broken")

    def handler(task: asynq.Task) -> None:
        if task.type == "bad":
            raise ValueError(f"bad {task.payload.get_int('n')}")

    bad1 = env.client.enqueue(asynq.Task("bad", {"n": 1}), max_retry=0)
    good = env.client.enqueue(asynq.Task("good"))
    bad2 = env.client.enqueue(asynq.Task("bad", {"n": 2}), max_retry=0)
    env.start(handler, concurrency=1, error_handler=error_handler)
    wait_until(lambda: len(env.ids(keys.archived("default"))) == 2 and env.processed() == 3)
    assert sorted(seen) == sorted([
        (bad1.id, "bad", repr(ValueError("bad 1"))),
        (bad2.id, "bad", repr(ValueError("bad 2"))),
    ])
    assert not env.exists("default", good.id)  # succeeded, not touched by the error handler
    assert env.message("default", bad2.id).error_msg == "ValueError: bad 2"


# --- health_check_func -----------------------------------------------------------------------


def test_health_check_called_with_none_while_broker_is_up(env: Env) -> None:
    calls: list[BaseException | None] = []
    env.start(lambda t: None, health_check_func=calls.append, health_check_interval=0.05)
    wait_until(lambda: len(calls) >= 3)
    assert set(map(type, calls)) == {type(None)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_health_check_called_with_the_error_when_broker_is_down() -> None:
    dead = asynq.RedisClientOpt(addr=f"127.0.0.1:{_free_port()}", connect_timeout=0.2).open()
    calls: list[BaseException | None] = []
    checker = HealthChecker(dead, calls.append, interval=0.05, logger=logging.getLogger("asynq"))
    checker.start()
    try:
        wait_until(lambda: len(calls) >= 2)
    finally:
        checker.stop()
    assert all(isinstance(c, asynq.BrokerConnectionError) for c in calls)
    assert dead.address in str(calls[0])


def test_background_on_unreachable_broker_fails_to_start_promptly() -> None:
    addr = f"127.0.0.1:{_free_port()}"
    bg = asynq.Background(asynq.RedisClientOpt(addr=addr, connect_timeout=0.3), asynq.Config(concurrency=1))
    with pytest.raises(asynq.BrokerConnectionError, match=addr):
        bg.start(lambda t: None)
    bg.shutdown()  # harmless on a server that never started


def test_health_check_sees_redis_go_down_under_a_running_worker(fresh_redis_server: Any) -> None:
    calls: list[BaseException | None] = []
    opt = asynq.RedisClientOpt(addr=fresh_redis_server.addr, connect_timeout=0.3)
    bg = asynq.Background(opt, asynq.Config(concurrency=1, health_check_interval=0.05, idle_poll_interval=0.1,
                                            health_check_func=calls.append))
    bg.start(lambda t: None)
    try:
        wait_until(lambda: None in calls)
        fresh_redis_server.stop()
        wait_until(lambda: any(isinstance(c, asynq.BrokerConnectionError) for c in calls))
    finally:
        bg.shutdown()


# --- archive limits --------------------------------------------------------------------------


def test_archive_max_size_keeps_only_the_newest(env: Env) -> None:
    def skip(task: asynq.Task) -> None:
        raise asynq.SkipRetry("no")

    infos = [env.client.enqueue(asynq.Task("t", i)) for i in range(5)]
    env.start(skip, concurrency=1, archive_max_size=2)
    wait_until(lambda: env.failed() == 5)
    archived = env.ids(keys.archived("default"))
    assert len(archived) == 2
    # Trimmed tasks are gone entirely, hash included.
    assert sum(env.exists("default", i.id) for i in infos) == 2
    assert set(archived) <= {i.id for i in infos}


def test_archive_max_age_drops_old_archived_tasks(env: Env) -> None:
    def skip(task: asynq.Task) -> None:
        raise asynq.SkipRetry("no")

    old = env.client.enqueue(asynq.Task("t", "old"))
    new = env.client.enqueue(asynq.Task("t", "new"), process_in=1.2)
    env.start(skip, concurrency=1, archive_max_age=1.0)
    wait_until(lambda: env.ids(keys.archived("default")) == [old.id])
    # The second archive, over a second later, trims the first one by age.
    wait_until(lambda: env.ids(keys.archived("default")) == [new.id], timeout=5)
    assert not env.exists("default", old.id)


# --- invalid configs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"concurrency": 0}, ValueError, "concurrency"),
        ({"concurrency": -3}, ValueError, "concurrency"),
        ({"concurrency": 2.5}, ValueError, "concurrency"),
        ({"concurrency": True}, ValueError, "concurrency"),
        ({"queues": {}}, ValueError, "at least one queue"),
        ({"queues": {"a": 0}}, ValueError, "weight"),
        ({"queues": {"a": -1}}, ValueError, "weight"),
        ({"queues": {"a": 1.5}}, ValueError, "weight"),
        ({"queues": {"a": "1"}}, ValueError, "weight"),
        ({"queues": {"a{b}": 1}}, ValueError, "queue name"),
        ({"queues": {"": 1}}, ValueError, "queue name"),
        ({"shutdown_timeout": 0}, ValueError, "shutdown_timeout"),
        ({"shutdown_timeout": -1}, ValueError, "shutdown_timeout"),
        ({"lease_duration": 0}, ValueError, "lease_duration"),
        ({"heartbeat_interval": -1}, ValueError, "heartbeat_interval"),
        ({"heartbeat_interval": 30, "lease_duration": 30}, ValueError, "heartbeat_interval"),
        ({"forward_interval": 0}, ValueError, "forward_interval"),
        ({"recover_interval": "1"}, ValueError, "recover_interval"),
        ({"janitor_interval": 0}, ValueError, "janitor_interval"),
        ({"sync_interval": 0}, ValueError, "sync_interval"),
        ({"idle_poll_interval": 0}, ValueError, "idle_poll_interval"),
        ({"health_check_interval": 0}, ValueError, "health_check_interval"),
        ({"archive_max_age": 0}, ValueError, "archive_max_age"),
        ({"archive_max_size": 0}, ValueError, "archive_max_size"),
        ({"retry_delay_func": 5}, TypeError, "retry_delay_func"),
        ({"retry_delay_func": None}, TypeError, "retry_delay_func"),
        ({"is_failure": "yes"}, TypeError, "is_failure"),
        ({"error_handler": 1}, TypeError, "error_handler"),
        ({"health_check_func": object()}, TypeError, "health_check_func"),
        ({"no_such_option": 1}, TypeError, "no_such_option"),
    ],
)
def test_invalid_config_raises_at_construction(options: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        asynq.Config(**options)


def test_valid_config_defaults() -> None:
    cfg = asynq.Config()
    assert cfg.concurrency >= 1
    assert cfg.queues == {"default": 1}
    assert cfg.shutdown_timeout == 8
    assert (cfg.lease_duration, cfg.heartbeat_interval) == (30, 5)
    assert cfg.strict_priority is False
