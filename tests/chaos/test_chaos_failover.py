"""Sentinel failover under load: a producer enqueues durably (replicas=1) without pause, two
worker processes process; the primary is SIGKILLed mid-run. Producer and workers carry on with
the new primary without being restarted, and every task whose enqueue was acknowledged is
processed at least once (DESIGN §1, §9). Completions are recorded in per-worker ledger files,
outside the Redis that fails over."""

from __future__ import annotations

import statistics
import threading
import time

import redis
from chaos_support import EMPTY_QUEUE, Ledger, WorkerFleet, queue_sizes
from testkit import wait_until

import asynq
from brokers import SentinelSet

WORKER_CONFIG = dict(
    concurrency=4,
    lease_duration=5.0,
    heartbeat_interval=0.5,
    recover_interval=0.5,
    forward_interval=0.1,
    idle_poll_interval=0.1,
    sync_interval=0.2,
    janitor_interval=1.0,
    shutdown_timeout=1.0,
)
"""A lease longer than the failover (about 3 s here) lets running tasks keep their lease."""
TASK_SECONDS = 0.08
PRODUCER_PAUSE = 0.004
"""Between two enqueues: faster than the 8 worker slots manage (100 a second), so the primary dies
with a backlog of acknowledged tasks that no worker has touched yet."""
BEFORE_KILL = 300
AFTER_RECOVERY = 300
"""Tasks acknowledged before the primary is killed, and after the old primary is back as a replica."""


class Producer(threading.Thread):
    """Enqueues tasks durably until stopped.

    An enqueue that could not reach Redis (during the failover, past the client's
    connect_timeout) is tried again with the same task ID: storing an identical task again is
    accepted. An enqueue the replica did not confirm (ReplicationError) is stored on the
    primary but not acknowledged: it is counted and the producer moves on. (Enqueueing it
    again would wait for the replica again, but also runs the task a second time if a worker
    finished it meanwhile.)"""

    def __init__(self, opt: asynq.RedisFailoverClientOpt) -> None:
        super().__init__(name="chaos-producer", daemon=True)
        self.opt = opt
        self.acked: dict[str, float] = {}  # task ID -> when enqueue returned (unix time)
        self.unacked: set[str] = set()  # stored on the primary, replication not confirmed
        self.connection_errors = 0
        self.calls: list[tuple[float, float]] = []  # (unix time at the start, seconds taken)
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            with asynq.Client(self.opt, replicas=1, replica_timeout=1.0) as client:
                n = 0
                while not self.stopping.is_set():
                    self._enqueue(client, f"f{n:06d}")
                    n += 1
                    self.stopping.wait(PRODUCER_PAUSE)  # pacing
        except BaseException as exc:
            self.error = exc

    def _enqueue(self, client: asynq.Client, task_id: str) -> None:
        while True:
            started, clock = time.time(), time.monotonic()
            try:
                client.enqueue(asynq.Task("chaos", {"seconds": TASK_SECONDS}), task_id=task_id)
            except asynq.ReplicationError:
                self.unacked.add(task_id)
                return
            except asynq.BrokerConnectionError:
                self.connection_errors += 1
                if self.stopping.is_set():
                    return
                continue
            finally:
                self.calls.append((started, time.monotonic() - clock))
            self.acked[task_id] = time.time()
            return


def test_failover_under_load_loses_no_acknowledged_task(fresh_sentinel_set: SentinelSet, fleet: WorkerFleet) -> None:
    sentinels = fresh_sentinel_set
    workers = [fleet.start(sentinels.url, name=f"w{n}", **WORKER_CONFIG) for n in range(2)]
    wait_until(lambda: all(w.started() for w in workers), timeout=20, what="the workers to start")
    ledger = Ledger(fleet.ledger_dir)
    producer = Producer(
        asynq.RedisFailoverClientOpt(
            master_name=sentinels.master_name, sentinel_addrs=sentinels.sentinel_addrs, connect_timeout=30
        )
    )
    producer.start()
    try:
        wait_until(
            lambda: (len(producer.acked) >= BEFORE_KILL and len(ledger.refresh().done_ids()) >= BEFORE_KILL // 2)
            or producer.error,
            timeout=30, what="work before the failover",
        )
        host, port = sentinels.current_primary_addr().rsplit(":", 1)
        with redis.Redis(host=host, port=int(port)) as conn:
            at_kill = queue_sizes(conn)
        old_primary = sentinels.kill_primary()
        killed_at = time.time()
        sentinels.wait_for_failover(old_primary, timeout=30)
        failed_over_at = time.time()
        # The producer cannot get a replica's confirmation until the old primary is back, as
        # a replica of the new one.
        sentinels.rejoin_replica()
        rejoined_at = time.time()
        acked_then = len(producer.acked)
        wait_until(
            lambda: len(producer.acked) >= acked_then + AFTER_RECOVERY or producer.error,
            timeout=30, what="durable enqueues after the failover",
        )
    finally:
        producer.stopping.set()
        producer.join(timeout=40)
    assert producer.error is None, producer.error

    acked = set(producer.acked)
    try:
        wait_until(lambda: not ledger.missing(acked), timeout=60, what="every acknowledged task to be processed")
        host, port = sentinels.current_primary_addr().rsplit(":", 1)
        with redis.Redis(host=host, port=int(port)) as conn:
            wait_until(lambda: queue_sizes(conn) == EMPTY_QUEUE, timeout=30, what="the queue to be empty")
    except BaseException:
        print(fleet.logs())
        raise
    assert all(w.alive for w in workers), fleet.logs()  # the same processes, never restarted

    ledger.refresh()
    lost = ledger.missing(acked)
    duplicates = ledger.duplicates()
    unacked_done = {i for i in producer.unacked if i in ledger.dones}
    # The longest stretch without a completed task, from just before the kill on.
    completions = sorted(at for runs in ledger.dones.values() for _, at in runs if at > killed_at - 1)
    pause = max((b - a for a, b in zip(completions, completions[1:])), default=float("nan"))
    stall = max(taken for at, taken in producer.calls if at >= killed_at - 1)
    median_call = statistics.median(taken for _, taken in producer.calls)
    print(
        f"\nfailover summary: queue at the kill {at_kill['pending']} pending, {at_kill['active']} active; "
        f"acknowledged {len(acked)}, lost {len(lost)}, "
        f"duplicates {sum(duplicates.values())} (tasks run twice: {len(duplicates)}), "
        f"not confirmed by the replica {len(producer.unacked)} (processed anyway: {len(unacked_done)}), "
        f"enqueues retried after BrokerConnectionError {producer.connection_errors}; "
        f"failover took {failed_over_at - killed_at:.2f} s, longest pause between completions "
        f"{pause:.2f} s, longest enqueue call {stall:.2f} s (median {median_call * 1000:.1f} ms), "
        f"old primary back as a replica {rejoined_at - killed_at:.2f} s after the kill"
    )
    assert not lost, f"{len(lost)} acknowledged tasks never ran: {sorted(lost)[:10]}"
