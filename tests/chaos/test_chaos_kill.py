"""Chaos: thousands of tasks, worker processes SIGKILLed at random moments and restarted, Redis
killed and restarted (AOF, every write fsynced) once. At the end every task ran at least once,
nothing is left in any queue state, and duplicate runs stay within what the kills explain
(DESIGN §1, §9). Bounded in time; the RNG seed is printed and can be set with ASYNQ_CHAOS_SEED.
"""

from __future__ import annotations

import os
import random
import threading
import time

import redis
from chaos_support import EMPTY_QUEUE, Ledger, WorkerFleet, describe_times, queue_sizes, recovery_times
from testkit import wait_until

import asynq
from brokers import RedisServer

SEED = int(os.environ.get("ASYNQ_CHAOS_SEED", "20240917"))
TASKS = 4000
WORKERS = 3
CONCURRENCY = 4
WORKER_CONFIG = dict(
    concurrency=CONCURRENCY,
    lease_duration=2.0,
    heartbeat_interval=0.4,
    recover_interval=0.5,
    forward_interval=0.1,
    idle_poll_interval=0.1,
    sync_interval=0.2,
    janitor_interval=1.0,
    shutdown_timeout=1.0,
)
TASK_SECONDS = (0.01, 0.06)
"""Each task sleeps a random time in this range."""
BATCH = 100
FEED_EVERY = 0.6
"""Tasks arrive with enqueue_many, BATCH at a time every FEED_EVERY seconds (about 170 a
second, below what the workers manage), so the queue stays short and the time a killed
worker's task takes to complete elsewhere measures recovery, not a backlog."""
KILL_EVERY = (1.0, 3.0)
REDIS_RESTART_AFTER_KILL = 3
"""Redis is killed and restarted right after this many worker kills."""
CHAOS_TIME = 40.0
"""Kills stop after this long, even with tasks left; then the test waits for the rest."""
FINISH_TIME = 30.0


class Feeder(threading.Thread):
    """Enqueues TASKS tasks in batches on a fixed schedule, riding out the Redis restart."""

    def __init__(self, url: str, rng: random.Random) -> None:
        super().__init__(name="chaos-feeder", daemon=True)
        self.url = url
        self.batches = [
            [asynq.Task("chaos", {"seconds": rng.uniform(*TASK_SECONDS)}) for _ in range(BATCH)]
            for _ in range(TASKS // BATCH)
        ]
        self.ids: list[str] = []
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            with asynq.Client(self.url) as client:
                start = time.monotonic()
                for n, batch in enumerate(self.batches):
                    time.sleep(max(0.0, start + n * FEED_EVERY - time.monotonic()))  # the schedule
                    self.ids += [info.id for info in client.enqueue_many(batch)]
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()


def test_chaos_sigkill_workers_and_restart_redis(fresh_redis_server: RedisServer, fleet: WorkerFleet) -> None:
    rng = random.Random(SEED)
    url = fresh_redis_server.url
    ledger = Ledger(fleet.ledger_dir)
    slots = [fleet.start(url, name=f"w{n}", **WORKER_CONFIG) for n in range(WORKERS)]
    wait_until(lambda: all(w.started() for w in slots), timeout=20, what="the workers to start")
    feeder = Feeder(url, rng)
    feeder.start()

    def unfinished() -> bool:
        return not feeder.done.is_set() or bool(ledger.missing(feeder.ids))

    began = time.monotonic()
    kills: list[tuple[float, int]] = []  # (unix time, pid)
    redis_outage: tuple[float, float] | None = None  # (killed at, answering again at), unix time
    try:
        while unfinished() and time.monotonic() - began < CHAOS_TIME:
            # Let the workers run for a random while (or until everything is done).
            pause_until = time.monotonic() + rng.uniform(*KILL_EVERY)
            while time.monotonic() < pause_until and unfinished():
                time.sleep(0.05)
            if not unfinished():
                break
            slot = rng.randrange(WORKERS)
            victim = slots[slot]
            killed_at = time.time()
            victim.kill()
            kills.append((killed_at, victim.pid))
            slots[slot] = fleet.start(url, name=f"w{slot}", **WORKER_CONFIG)
            if len(kills) == REDIS_RESTART_AFTER_KILL and redis_outage is None:
                down_at = time.time()
                fresh_redis_server.kill()
                fresh_redis_server.restart()  # returns once it answers PING, AOF loaded
                redis_outage = (down_at, time.time())

        wait_until(lambda: not unfinished(), timeout=FINISH_TIME, what="every task to run at least once")
        assert feeder.error is None, feeder.error
        ids = feeder.ids
        assert len(set(ids)) == TASKS
        with redis.Redis.from_url(url) as conn:
            wait_until(
                lambda: queue_sizes(conn) == EMPTY_QUEUE, timeout=10,
                what="the queue to be empty (no task left pending, active, retry or archived)",
            )
            sizes = queue_sizes(conn)
            leftover = conn.keys("asynq:{default}:t:*")
    except BaseException:
        print(fleet.logs())
        raise
    elapsed = time.monotonic() - began

    ledger.refresh()
    lost = ledger.missing(ids)
    duplicates = ledger.duplicates()
    recoveries = recovery_times(ledger, kills)
    interrupted = sum(len(ledger.interrupted(pid)) for _, pid in kills)
    resumed = None
    if redis_outage is not None:
        first_after = ledger.first_done_after(redis_outage[1])
        resumed = None if first_after is None else first_after - redis_outage[1]
    restarts = 0 if redis_outage is None else 1
    print(
        f"\nchaos summary: seed {SEED}, tasks {TASKS}, workers {WORKERS}x{CONCURRENCY}, "
        f"kills {len(kills)}, redis restarts {restarts}, lost {len(lost)}, "
        f"duplicates {sum(duplicates.values())} (tasks run twice: {len(duplicates)}), "
        f"interrupted runs {interrupted}, recovery of a killed worker's tasks: {describe_times(recoveries)}, "
        + (
            f"redis down {redis_outage[1] - redis_outage[0]:.2f} s, processing resumed "
            f"{resumed:.2f} s after it came back, " if redis_outage and resumed is not None else ""
        )
        + f"took {elapsed:.1f} s"
    )

    assert not lost, f"{len(lost)} tasks never ran: {sorted(lost)[:10]}"
    assert sizes == EMPTY_QUEUE and not leftover
    assert len(kills) >= 5 and restarts == 1, "not enough chaos: the tasks ran out too soon"
    assert interrupted > 0 and recoveries, "no kill hit a running task"
    # A kill can repeat at most the runs in flight in the killed worker (CONCURRENCY); the
    # Redis restart at most those in flight everywhere.
    bound = len(kills) * CONCURRENCY + restarts * WORKERS * CONCURRENCY
    assert sum(duplicates.values()) <= bound, (duplicates, bound)
    # A killed worker's task comes back once its lease expires: lease + recover interval +
    # forward interval + the run, with margin for a loaded machine.
    assert max(recoveries) < WORKER_CONFIG["lease_duration"] + 4.0
