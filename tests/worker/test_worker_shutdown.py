"""Server state in Redis while running; stop() and shutdown() in process."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import pytest

import asynq
from asynq.brokers.redis import codec, keys
from worker_support import Env, wait_until


def _server_keys(env: Env) -> list[bytes]:
    return env.raw.zrange(keys.ALL_SERVERS, 0, -1)


def _heartbeats(env: Env, count: int) -> None:
    """Wait for ``count`` more heartbeats (each rewrites the server's expiry score)."""
    for _ in range(count):
        (first,) = env.raw.zrange(keys.ALL_SERVERS, 0, -1, withscores=True)
        wait_until(lambda: env.raw.zrange(keys.ALL_SERVERS, 0, -1, withscores=True)[0][1] > first[1],
                   what="a heartbeat")


def test_server_and_worker_state_while_running_and_gone_after_shutdown(env: Env) -> None:
    started = threading.Event()
    release = threading.Event()

    def handler(task: asynq.Task) -> None:
        started.set()
        assert release.wait(5)

    info = env.client.enqueue(asynq.Task("busy", {"x": 1}), queue="critical")
    # The server's records live for two heartbeats: 0.1 s gave a loaded machine only 0.2 s
    # between two reads of this test before they expired.
    bg = env.start(handler, concurrency=3, queues={"critical": 6, "default": 1}, heartbeat_interval=0.5)
    assert started.wait(5)

    def busy_server() -> asynq.brokers.base.ServerState | None:
        listed = _server_keys(env)
        if len(listed) != 1:
            return None
        state = codec.decode_server(env.raw.get(listed[0]))
        return state if state.active_worker_count == 1 else None

    server = wait_until(busy_server, what="the server state with one busy worker")
    assert (server.host, server.pid) == (socket.gethostname(), os.getpid())
    assert server.concurrency == 3
    assert server.queues == {"critical": 6, "default": 1}
    assert server.status == "active"
    assert server.started_at <= time.time()
    server_key = keys.server_info(server.host, server.pid, server.server_id)
    assert _server_keys(env) == [server_key.encode()]
    workers_key = keys.workers(server.host, server.pid, server.server_id)
    assert env.raw.zrange(keys.ALL_WORKERS, 0, -1) == [workers_key.encode()]
    (worker,) = [codec.decode_worker(v) for v in env.raw.hgetall(workers_key).values()]
    assert (worker.task_id, worker.task_type, worker.queue) == (info.id, "busy", "critical")
    assert worker.task_payload == b'{"x":1}' or worker.task_payload.replace(b" ", b"") == b'{"x":1}'
    assert worker.server_id == server.server_id
    assert worker.deadline > worker.started_at  # the default 1800 s timeout
    # The records expire on their own if the worker dies (a TTL), and are removed on shutdown.
    assert 0 < env.raw.pttl(server_key)

    release.set()
    wait_until(lambda: env.processed("critical") == 1)
    bg.shutdown()
    assert _server_keys(env) == []
    assert env.raw.zrange(keys.ALL_WORKERS, 0, -1) == []
    assert not env.raw.exists(server_key) and not env.raw.exists(workers_key)


def test_shutdown_requeues_an_unfinished_task_at_the_head_of_pending(env: Env) -> None:
    started = threading.Event()
    seen: list[asynq.Task] = []

    def handler(task: asynq.Task) -> None:
        seen.append(task)
        started.set()
        end = time.monotonic() + 5
        while not task.cancelled and time.monotonic() < end:
            time.sleep(0.01)

    first = env.client.enqueue(asynq.Task("long", 1))
    second = env.client.enqueue(asynq.Task("long", 2))
    bg = env.start(handler, concurrency=1, shutdown_timeout=0.5)
    assert started.wait(5)
    assert env.ids(keys.pending("default")) == [second.id]
    bg.shutdown()
    # Pending is LPUSH/RPOP: the rightmost element is the next one taken.
    assert env.ids(keys.pending("default")) == [second.id, first.id]
    assert env.state("default", first.id) == "pending"
    assert env.raw.hget(keys.task("default", first.id), "pending_since") is not None
    assert env.raw.hget(keys.task("default", first.id), "lease_token") is None
    assert env.ids(keys.active("default")) == [] and env.ids(keys.lease("default")) == []
    assert (env.processed(), env.failed()) == (0, 0)
    assert env.message("default", first.id).retried == 0  # not counted as a failure
    assert [t.id for t in seen] == [first.id]
    assert seen[0].cancelled  # the handler was asked to stop
    assert _server_keys(env) == []

    # The next worker takes the requeued task first.
    order: list[str] = []
    env.start(lambda t: order.append(t.id), concurrency=1)
    wait_until(lambda: order == [first.id, second.id])


def test_shutdown_lets_a_task_finish_within_the_timeout(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asynq")
    started = threading.Event()
    finish = threading.Event()
    finished: list[str] = []

    def handler(task: asynq.Task) -> None:
        started.set()
        assert finish.wait(5)
        finished.append(task.id)

    info = env.client.enqueue(asynq.Task("t"), retention=60)
    bg = env.start(handler, concurrency=1, shutdown_timeout=5)
    assert started.wait(5)
    stopper = threading.Thread(target=bg.shutdown)
    stopper.start()
    wait_until(lambda: any("shutting down" in r.getMessage() for r in caplog.records))
    finish.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert finished == [info.id]
    assert env.ids(keys.completed("default")) == [info.id]
    assert env.state("default", info.id) == "completed"
    assert env.ids(keys.pending("default")) == [] and env.ids(keys.active("default")) == []
    assert env.processed() == 1


def test_shutdown_of_an_idle_worker_is_prompt_and_idempotent(env: Env) -> None:
    bg = env.start(lambda t: None, concurrency=4)
    wait_until(lambda: len(_server_keys(env)) == 1)
    bg.shutdown()
    bg.shutdown()
    assert _server_keys(env) == []
    with pytest.raises(RuntimeError):
        bg.start(lambda t: None)


def test_stop_takes_no_new_tasks_and_running_ones_finish(env: Env) -> None:
    started = threading.Event()
    finish = threading.Event()
    done: list[str] = []

    def handler(task: asynq.Task) -> None:
        if task.type == "running":
            started.set()
            assert finish.wait(5)
        done.append(task.id)

    running = env.client.enqueue(asynq.Task("running"))
    bg = env.start(handler, concurrency=2, heartbeat_interval=0.5)  # records live 1 s
    assert started.wait(5)
    bg.stop()
    wait_until(lambda: codec.decode_server(env.raw.get(_server_keys(env)[0])).status == "stopped")
    later = env.client.enqueue(asynq.Task("later"))
    finish.set()
    wait_until(lambda: done == [running.id] and env.processed() == 1)
    _heartbeats(env, 3)  # a free slot, a wake-up, time passing: still nothing taken
    assert env.ids(keys.pending("default")) == [later.id]
    assert done == [running.id]
    bg.shutdown()
    assert env.ids(keys.pending("default")) == [later.id]
