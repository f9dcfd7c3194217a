"""Leases: extended while a handler runs, fenced when lost, reconciled when missing, recovered when expired."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import attrs
import pytest

import asynq
from asynq.brokers import open_broker
from asynq.brokers.base import Broker
from asynq.brokers.redis import keys
from worker_support import Env, wait_until


@pytest.fixture
def other_broker(env: Env) -> Iterator[Broker]:
    """A second broker on the same storage: another worker, or an operator."""
    broker, _ = open_broker(env.url)
    yield broker
    broker.close()


def test_lease_is_extended_while_a_long_handler_runs(env: Env) -> None:
    runs: list[bool] = []
    scores: list[float] = []
    lease = keys.lease("default")

    def handler(task: asynq.Task) -> None:
        end = time.monotonic() + 1.5  # 2.5 leases long
        while time.monotonic() < end:
            score = env.score(lease, task.id)
            if score is not None and (not scores or score != scores[-1]):
                scores.append(score)
            time.sleep(0.02)
        runs.append(task.cancelled)

    info = env.client.enqueue(asynq.Task("slow"))
    env.start(handler, lease_duration=0.6, heartbeat_interval=0.1, recover_interval=0.1)
    wait_until(lambda: env.processed() == 1, timeout=10)
    assert runs == [False]  # ran once, never asked to stop
    assert env.failed() == 0
    assert not env.exists("default", info.id)
    assert env.ids(keys.retry("default")) == []
    # The lease moved forward several times, past the end of the first one.
    assert len(scores) >= 3
    assert scores == sorted(scores)
    assert scores[-1] > scores[0] + 0.6


def _steal(env: Env, broker: Broker, task_id: str) -> None:
    """Do what another worker's recoverer does to a task whose lease it sees expired."""
    lease_key = keys.lease("default")

    def stolen() -> bool:
        if env.state("default", task_id) == "retry":
            return True  # done (by us, or by the worker's own recoverer on its first pass)
        env.raw.zadd(lease_key, {task_id: 1}, xx=True)  # expired long ago (the heartbeat may renew it)
        now = time.time()
        for lease in broker.expired_leases(["default"], now=now):
            if lease.message.id == task_id:
                msg = attrs.evolve(lease.message, retried=lease.message.retried + 1, error_msg="stolen")
                return broker.retry(lease, msg, retry_at=now + 3600, is_failure=True, now=now, only_if_expired=True)
        return False

    wait_until(stolen, what="the recoverer's guarded retry to win against the heartbeat")


def _wait_for_cancellation(task: asynq.Task, timeout: float = 5.0) -> None:
    """Run as a busy handler would, until the task is cancelled or ``timeout`` passes."""
    end = time.monotonic() + timeout
    while not task.cancelled and time.monotonic() < end:
        time.sleep(0.01)


def test_lost_lease_cancels_the_handler_and_fences_its_outcome(env: Env, other_broker: Broker) -> None:
    started = threading.Event()
    saw_cancel = threading.Event()
    proceed = threading.Event()
    seen: dict[str, object] = {}

    def handler(task: asynq.Task) -> None:
        if task.type == "next" or task.retry_count > 0:
            return  # a rerun after recovery (see below) frees the one slot at once
        started.set()
        _wait_for_cancellation(task)
        seen["cancelled"] = task.cancelled
        saw_cancel.set()
        assert proceed.wait(5)
        try:
            task.write_result(b"too late")
        except asynq.TaskCanceled as exc:
            seen["write_result"] = exc
        # and returns normally: a success that must not be recorded

    info = env.client.enqueue(asynq.Task("victim"))
    env.start(handler, concurrency=1, queues={"default": 1, "other": 1},
              heartbeat_interval=0.1, recover_interval=60)
    assert started.wait(5)
    _steal(env, other_broker, info.id)
    assert saw_cancel.wait(5), "the handler never saw its cancellation flag"
    # Another worker takes the task (our only slot is busy, so ours cannot).
    now = time.time()
    other_broker.forward(["default"], now=now + 3601)  # due now, whoever stole it
    (theirs,) = other_broker.dequeue(["default"], 1, now=now, lease_until=now + 60)
    assert theirs.message.id == info.id
    proceed.set()
    # The slot is freed only after the run is settled, so the next task proves it was.
    env.client.enqueue(asynq.Task("next"), queue="other")
    wait_until(lambda: env.processed("other") == 1)
    assert seen["cancelled"] is True
    assert isinstance(seen["write_result"], asynq.TaskCanceled)
    # The success was fenced: the task is still the other worker's, counted once (the steal).
    assert env.state("default", info.id) == "active"
    assert env.ids(keys.active("default")) == [info.id]
    assert env.score(keys.lease("default"), info.id) == pytest.approx(now + 60)  # not extended by us
    assert env.raw.hget(keys.task("default", info.id), "result") is None
    assert (env.processed(), env.failed()) == (1, 1)
    assert other_broker.succeed(theirs, now=time.time()) is True
    assert env.processed() == 2 and not env.exists("default", info.id)


def test_success_after_an_unnoticed_lease_loss_is_refused_by_the_broker(env: Env, other_broker: Broker) -> None:
    """The heartbeat has not run since the task was taken over: the write itself is fenced."""
    started = threading.Event()
    proceed = threading.Event()
    cancelled: list[bool] = []

    def handler(task: asynq.Task) -> None:
        if task.type == "next" or task.retry_count > 0:
            return  # a rerun after recovery (see below) frees the one slot at once
        started.set()
        assert proceed.wait(5)
        cancelled.append(task.cancelled)

    info = env.client.enqueue(asynq.Task("victim"))
    env.start(handler, concurrency=1, queues={"default": 1, "other": 1},
              lease_duration=30, heartbeat_interval=20, recover_interval=60)
    assert started.wait(5)
    _steal(env, other_broker, info.id)
    now = time.time()
    other_broker.forward(["default"], now=now + 3601)  # due now, whoever stole it
    (theirs,) = other_broker.dequeue(["default"], 1, now=now, lease_until=now + 60)
    proceed.set()
    env.client.enqueue(asynq.Task("next"), queue="other")
    wait_until(lambda: env.processed("other") == 1)
    assert cancelled == [False]  # nobody told it
    assert env.state("default", info.id) == "active"
    assert env.ids(keys.active("default")) == [info.id]
    assert (env.processed(), env.failed()) == (1, 1)
    assert other_broker.succeed(theirs, now=time.time()) is True


def test_deleted_lease_cancels_the_handler_and_nothing_is_written(env: Env) -> None:
    started = threading.Event()
    cancelled: list[bool] = []

    def handler(task: asynq.Task) -> None:
        if task.type == "next" or task.retry_count > 0:
            return  # a rerun after recovery (see below) frees the one slot at once
        started.set()
        _wait_for_cancellation(task)
        cancelled.append(task.cancelled)

    info = env.client.enqueue(asynq.Task("victim"))
    env.start(handler, concurrency=1, queues={"default": 1, "other": 1},
              heartbeat_interval=0.1, recover_interval=60)
    assert started.wait(5)
    env.raw.zrem(keys.lease("default"), info.id)
    env.client.enqueue(asynq.Task("next"), queue="other")
    wait_until(lambda: env.processed("other") == 1)
    assert cancelled == [True]
    # Not completed by the worker that lost it: still active, for a recoverer to reconcile.
    # Unless this worker's recoverer ran its first pass late and recovered it: then it counts
    # one failed attempt and runs again at once (recovered tasks get no retry delay), and that
    # rerun's success is the only one recorded.
    if env.failed() == 0:
        assert env.exists("default", info.id)
        assert env.state("default", info.id) == "active"
        assert env.ids(keys.active("default")) == [info.id]
        assert env.processed() == 0
    else:
        wait_until(lambda: not env.exists("default", info.id), what="the recovered task's rerun")
        assert (env.processed(), env.failed()) == (2, 1)


def test_active_task_without_a_lease_is_reconciled_and_run_again(env: Env) -> None:
    info = env.client.enqueue(asynq.Task("orphan"))
    # As if a worker died between taking it and leasing it (or an old Go worker took it).
    assert env.raw.rpop(keys.pending("default")).decode() == info.id
    env.raw.lpush(keys.active("default"), info.id)
    env.raw.hset(keys.task("default", info.id), "state", "active")
    ran: list[tuple[str, int]] = []
    env.start(lambda t: ran.append((t.id, t.retry_count)), recover_interval=0.2)
    # Recovered as a failed attempt (LeaseExpired), then run again at once.
    wait_until(lambda: ran == [(info.id, 1)] and env.processed() == 2, timeout=2,
               what="the orphan to be recovered and run")
    assert env.failed() == 1
    assert not env.exists("default", info.id)
    for key in (keys.active, keys.lease, keys.retry, keys.pending):
        assert env.ids(key("default")) == [], key


def test_recovered_task_records_lease_expired(env: Env, other_broker: Broker) -> None:
    info = env.client.enqueue(asynq.Task("t"), max_retry=0)
    now = time.time()
    other_broker.dequeue(["default"], 1, now=now, lease_until=now - 1)  # taken by a worker that died
    env.start(lambda t: None, recover_interval=0.1)
    wait_until(lambda: info.id in env.ids(keys.archived("default")))  # no retries left
    assert env.message("default", info.id).error_msg == "LeaseExpired: asynq: task lease expired"
    assert (env.processed(), env.failed()) == (1, 1)


def test_task_of_a_dead_worker_is_recovered_after_its_lease_expires(env: Env, other_broker: Broker) -> None:
    info = env.client.enqueue(asynq.Task("t"), max_retry=1)
    now = time.time()
    # A worker took it with a short lease, then died.
    (lease,) = other_broker.dequeue(["default"], 1, now=now, lease_until=now + 0.3)
    ran: list[int] = []
    env.start(lambda t: ran.append(t.retry_count), retry_delay_func=lambda n, exc, task: 0, recover_interval=0.1)
    wait_until(lambda: ran == [1] and env.processed() == 2, what="the task to be recovered and run again")
    assert not env.exists("default", info.id)
    assert env.failed() == 1
    # The dead worker's late acknowledgement is refused.
    assert other_broker.succeed(lease, now=time.time()) is False
    assert env.processed() == 2
