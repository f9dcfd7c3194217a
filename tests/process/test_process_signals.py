"""Signals to a worker process (the seed's Signals page, DESIGN §6).

SIGTERM/SIGINT: stop fetching, give running tasks ``shutdown_timeout``, put the unfinished ones
back at the head of their queue, exit 0. SIGTSTP: stop fetching and keep running.
"""

from __future__ import annotations

import signal
import time

import pytest

from asynq.brokers.redis import codec, keys


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_task_running_past_shutdown_timeout_goes_back_to_the_head_of_pending(spawn, probe, signum) -> None:
    worker = spawn.worker(probe.url, name="worker", concurrency=1, shutdown_timeout=0.5)
    worker.wait_started()
    long_id = probe.enqueue("long", seconds=60)
    probe.wait_until(lambda: probe.names("test:started") == ["long"], timeout=10, what="the long task to start")
    # The only slot is busy, so this one stays pending behind it.
    other_id = probe.enqueue("other")

    worker.send(signum)
    assert worker.wait(timeout=10) == 0, worker.output()
    assert "worker exited cleanly" in worker.stdout()

    assert probe.state(long_id) == "pending"
    # The requeued task is dequeued next: RPOPLPUSH takes from the right, so it is last.
    assert probe.pending() == [other_id, long_id]
    assert probe.sizes()["active"] == 0
    assert probe.names("test:done") == []
    assert probe.conn.zcard(keys.lease("default")) == 0
    # The server cleared its state on the way out.
    assert probe.conn.zcard(keys.ALL_SERVERS) == 0


def test_a_task_finishing_within_shutdown_timeout_completes(spawn, probe) -> None:
    worker = spawn.worker(probe.url, name="worker", concurrency=2, shutdown_timeout=10)
    worker.wait_started()
    task_id = probe.enqueue("short", seconds=1.0)
    probe.wait_until(lambda: probe.names("test:started") == ["short"], timeout=10, what="the task to start")

    worker.send(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, worker.output()

    assert probe.names("test:done") == ["short"]
    assert probe.state(task_id) is None  # completed (no retention: deleted)
    assert probe.sizes() == {"pending": 0, "active": 0, "scheduled": 0, "retry": 0, "archived": 0}
    assert probe.conn.get(keys.processed_total("default")) == b"1"


def server_statuses(probe) -> list[str]:
    """The status of every live server in asynq:servers, as the Inspector would read it."""
    statuses = []
    for server_key in probe.conn.zrange(keys.ALL_SERVERS, 0, -1):
        data = probe.conn.get(server_key)
        if data is not None:
            statuses.append(codec.decode_server(data).status)
    return statuses


def test_sigtstp_stops_fetching_and_the_worker_keeps_running(spawn, probe) -> None:
    worker = spawn.worker(probe.url, name="worker", concurrency=2, heartbeat_interval=0.2, idle_poll_interval=0.2)
    worker.wait_started()
    probe.enqueue("before")
    probe.wait_until(lambda: probe.names("test:done") == ["before"], timeout=10, what="the first task")
    probe.wait_until(lambda: server_statuses(probe) == ["active"], timeout=5, what="server status active")

    worker.send(signal.SIGTSTP)
    worker.wait_for_output("stopped taking new tasks", timeout=5)
    probe.wait_until(lambda: server_statuses(probe) == ["stopped"], timeout=5, what="server status stopped")

    after_id = probe.enqueue("after")
    # Nothing to wait for here: check that nothing happens for a while (several idle polls
    # and heartbeats), with the process still alive.
    time.sleep(1.5)
    assert worker.alive, worker.output()
    assert probe.state(after_id) == "pending"
    assert probe.pending() == [after_id]
    assert probe.names("test:started") == ["before"]
    assert server_statuses(probe) == ["stopped"]

    worker.send(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0, worker.output()
    assert probe.state(after_id) == "pending"
    assert probe.conn.zcard(keys.ALL_SERVERS) == 0
