"""A worker process killed with SIGKILL mid-task: another worker completes the task once the
dead worker's lease expires (DESIGN §6, §9: chaos)."""

from __future__ import annotations

import signal
import time

LEASE = 2.0


def test_task_of_a_killed_worker_is_completed_by_another_after_lease_expiry(spawn, probe) -> None:
    crashing = spawn.worker(probe.url, name="crashing", concurrency=1, lease_duration=LEASE, heartbeat_interval=0.5)
    crashing.wait_started()
    task_id = probe.enqueue("job", seconds=60)
    probe.wait_until(lambda: probe.entries("test:started"), timeout=10, what="the task to start")
    assert probe.entries("test:started") == [("job", crashing.pid)]

    crashing.send(signal.SIGKILL)
    killed_at = time.monotonic()
    crashing.wait(timeout=5)
    # The dead worker left the task active, under a lease nobody renews.
    assert probe.state(task_id) == "active"
    probe.conn.set("test:release:job", 1)  # the next run of the handler returns at once

    rescuer = spawn.worker(
        probe.url, name="rescuer", concurrency=2, lease_duration=LEASE, heartbeat_interval=0.5,
        recover_interval=0.5, forward_interval=0.1, retry_delay=0.1,
    )
    rescuer.wait_started()
    probe.wait_until(lambda: probe.entries("test:done"), timeout=LEASE + 15, what="another worker to finish the task")
    recovery = time.monotonic() - killed_at
    print(f"\nrecovery after SIGKILL: {recovery:.2f} s (lease {LEASE:g} s, recover interval 0.5 s)")

    assert probe.entries("test:done") == [("job", rescuer.pid)]
    # Completed: with no retention the task is deleted, and nothing is left in any state.
    probe.wait_until(lambda: probe.state(task_id) is None, timeout=5, what="the task to be settled")
    assert probe.sizes() == {"pending": 0, "active": 0, "scheduled": 0, "retry": 0, "archived": 0}
    assert probe.conn.get("asynq:{default}:processed") == b"2"  # the crashed run (a failure) + the good one
    assert probe.conn.get("asynq:{default}:failed") == b"1"

    rescuer.send(signal.SIGTERM)
    assert rescuer.wait(timeout=10) == 0, rescuer.output()
