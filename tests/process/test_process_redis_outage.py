"""Redis stopped and restarted under a running worker process: no task lost, the worker
rides the outage out quietly and keeps processing (DESIGN §8, §9)."""

from __future__ import annotations

import signal
import time

OUTAGE = 6.0
"""Seconds Redis stays down (a crash: SIGKILL; the AOF fsyncs every write). Longer than the
broker's 5 s retry budget, so the worker's own error handling and deferred writes are used."""


def test_worker_survives_a_redis_restart_and_loses_no_task(spawn, fresh_redis_server, make_probe) -> None:
    server = fresh_redis_server
    probe = make_probe(server.url)
    worker = spawn.worker(
        server.url, name="worker", concurrency=4, heartbeat_interval=0.5, forward_interval=0.2,
        recover_interval=0.5, sync_interval=0.2, idle_poll_interval=0.5, retry_delay=0.2,
    )
    worker.wait_started()

    before = [f"before-{i}" for i in range(12)]
    for name in before:
        probe.enqueue(name, seconds=0.3)
    # Kill Redis while tasks are running and others are still pending.
    probe.wait_until(lambda: len(probe.entries("test:started")) >= 2, timeout=10, what="tasks to start")
    server.kill()
    cpu_before = worker.cpu_seconds()
    time.sleep(OUTAGE)  # the outage itself
    cpu_during = worker.cpu_seconds()
    lines_during_outage = len(worker.stderr().splitlines())
    assert worker.alive, worker.output()
    server.restart()

    after = [f"after-{i}" for i in range(5)]
    for name in after:
        probe.enqueue(name)

    def all_done() -> bool:
        return set(probe.names("test:done")) >= set(before + after)

    started = time.monotonic()
    probe.wait_until(all_done, timeout=30, what="every task enqueued before and after the outage to finish")
    print(f"\nall tasks done {time.monotonic() - started:.2f} s after Redis came back")
    probe.wait_until(lambda: not probe.task_keys(), timeout=10, what="every task to be settled")
    assert probe.sizes() == {"pending": 0, "active": 0, "scheduled": 0, "retry": 0, "archived": 0}

    # Still alive and processing.
    assert worker.alive, worker.output()
    probe.enqueue("last")
    probe.wait_until(lambda: "last" in probe.names("test:done"), timeout=10, what="a task after recovery")

    # Rate-limited logging, and no busy loop while Redis was away.
    stderr_lines = worker.stderr().splitlines()
    print(f"worker stderr: {len(stderr_lines)} lines ({lines_during_outage} by the end of the outage)")
    assert len(stderr_lines) < 200, worker.output()
    if cpu_before is not None and cpu_during is not None:
        cpu_share = (cpu_during - cpu_before) / OUTAGE
        print(f"worker CPU during the outage: {cpu_share:.0%}")
        assert cpu_share < 0.5, f"the worker spun during the outage ({cpu_share:.0%} CPU)"

    worker.send(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, worker.output()
