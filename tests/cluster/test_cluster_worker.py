"""Client, Background and Inspector end to end on the Redis Cluster, queues on three primaries."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from cluster_support import FAST, SPREAD_QUEUES, primary_addr_of_queue, wait_until
from redis.cluster import RedisCluster

import asynq
from asynq.brokers.redis import keys
from brokers import ClusterSet
from brokers.server import PROBE_OPTIONS


def _asynq_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("asynq-") and t.is_alive()}


class Workers:
    """Backgrounds and clients on the cluster URL, all shut down at teardown."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = asynq.Client(url)
        self._servers: list[asynq.Background] = []

    def start(self, handler: Any, **config: Any) -> asynq.Background:
        bg = asynq.Background(self.url, asynq.Config(**{**FAST, "queues": SPREAD_QUEUES, **config}))
        self._servers.append(bg)
        bg.start(handler)
        return bg

    def close(self) -> None:
        for bg in self._servers:
            bg.shutdown()
        self.client.close()


@pytest.fixture
def workers(cluster_url: str) -> Iterator[Workers]:
    before = _asynq_threads()
    w = Workers(cluster_url)
    yield w
    w.close()
    wait_until(lambda: not (_asynq_threads() - before), what="the worker's threads to end after shutdown")


class Recorder:
    """A handler that records each run; ``flaky`` tasks fail on their first run."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: Counter[str] = Counter()
        self.started: dict[str, float] = {}

    def __call__(self, task: asynq.Task) -> None:
        with self.lock:
            self.runs[task.id] += 1
            self.started.setdefault(task.id, time.monotonic())
            first = self.runs[task.id] == 1
        if task.type == "flaky" and first:
            raise RuntimeError("first attempt fails")

    def count(self) -> int:
        with self.lock:
            return len(self.runs)


def test_three_queues_on_three_primaries(
    workers: Workers, cluster_set: ClusterSet, raw: RedisCluster
) -> None:
    assert len({primary_addr_of_queue(cluster_set, q) for q in SPREAD_QUEUES}) == 3
    recorder = Recorder()
    ids: dict[str, list[str]] = {q: [] for q in SPREAD_QUEUES}
    for q in SPREAD_QUEUES:
        infos = workers.client.enqueue_many([asynq.Task("work", {"n": i}) for i in range(5)], queue=q)
        ids[q] += [info.id for info in infos]
    scheduled = workers.client.enqueue(asynq.Task("later", {}), queue="low", process_in=0.3)
    assert scheduled.state is asynq.TaskState.SCHEDULED
    flaky = workers.client.enqueue(asynq.Task("flaky", {}), queue="reports", max_retry=3)
    ids["low"].append(scheduled.id)
    ids["reports"].append(flaky.id)

    workers.start(recorder, retry_delay_func=lambda n, error, task: 0.2)

    every_id = [i for q in ids.values() for i in q]
    wait_until(lambda: all(recorder.runs[i] >= 1 for i in every_id) and recorder.runs[flaky.id] == 2,
               timeout=10, what="every task to run (the flaky one twice)")
    assert all(recorder.runs[i] == 1 for i in every_id if i != flaky.id)

    def settled() -> bool:
        return all(
            raw.llen(keys.pending(q)) == raw.llen(keys.active(q)) == 0
            and raw.zcard(keys.scheduled(q)) == raw.zcard(keys.retry(q)) == raw.zcard(keys.lease(q)) == 0
            and int(raw.get(keys.processed_total(q)) or 0) == len(ids[q]) + (q == "reports")
            for q in SPREAD_QUEUES
        )

    wait_until(settled, what="every queue to be empty with its tasks counted")
    assert int(raw.get(keys.failed_total("reports"))) == 1
    assert raw.smembers(keys.ALL_QUEUES) == {q.encode() for q in SPREAD_QUEUES}

    with asynq.Inspector(workers.url) as inspector:
        stats = inspector.current_stats()
        assert {i.queue: i.processed_total for i in stats.queues} == {
            "critical": 5, "reports": 7, "low": 6,
        }
        assert stats.failed == 1 and stats.by_state[asynq.TaskState.PENDING] == 0


def _subscribed_nodes(cluster_set: ClusterSet, channel: str = keys.WAKEUP_CHANNEL) -> set[str]:
    """The nodes on which someone listens to ``channel`` (a subscription lives on one node)."""
    found = set()
    for node in cluster_set.nodes:
        with node.client(**PROBE_OPTIONS) as conn:
            ((_, count),) = conn.pubsub_numsub(channel)
        if count:
            found.add(node.addr)
    return found


def test_wakeup_reaches_an_idle_worker_across_nodes(workers: Workers, cluster_set: ClusterSet) -> None:
    """With a 30 s idle poll, a task enqueued on one node starts within seconds on a worker
    subscribed on another: PUBLISH inside the enqueue script is broadcast cluster-wide."""
    recorder = Recorder()
    workers.start(recorder, idle_poll_interval=30.0)
    subscribed = wait_until(lambda: _subscribed_nodes(cluster_set), what="the worker to subscribe")
    queue = next(q for q in SPREAD_QUEUES if primary_addr_of_queue(cluster_set, q) not in subscribed)
    for round_ in range(3):
        enqueued_at = time.monotonic()
        info = workers.client.enqueue(asynq.Task("ping", {"round": round_}), queue=queue)
        wait_until(lambda: info.id in recorder.started, timeout=5.0,
                   what=f"round {round_}: the task to start without waiting for the idle poll")
        assert recorder.started[info.id] - enqueued_at < 5.0


def test_cancellation_and_server_state(workers: Workers, cluster_set: ClusterSet) -> None:
    """The inspector sees the running server and its worker (keys on several nodes) and
    cancels the task through pub/sub; the cancelled run goes through the retry policy."""
    started = threading.Event()
    running: list[asynq.Task] = []

    def handler(task: asynq.Task) -> None:
        running.append(task)
        started.set()
        deadline = time.monotonic() + 10
        while not task.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)

    bg = workers.start(handler)
    info = workers.client.enqueue(asynq.Task("long", {"x": 1}), queue="low", max_retry=0)
    assert started.wait(5)
    with asynq.Inspector(workers.url) as inspector:

        def busy_server() -> Any:
            servers = inspector.servers()
            return servers if servers and servers[0].active_workers else None

        (server,) = wait_until(busy_server, what="the server and its worker to be recorded")
        assert server.queues == SPREAD_QUEUES
        assert [w.task_id for w in server.active_workers] == [info.id]
        wait_until(lambda: _subscribed_nodes(cluster_set, keys.CANCEL_CHANNEL), what="the worker to subscribe")
        inspector.cancel_processing(info.id)
        archived = wait_until(
            lambda: (details := inspector.get_task_info("low", info.id)).state is asynq.TaskState.ARCHIVED
            and details,
            what="the cancelled task (no retries left) to be archived",
        )
        assert "TaskCanceled" in archived.last_error
        assert running[0].cancelled
    bg.shutdown()
    with asynq.Inspector(workers.url) as inspector:
        assert inspector.servers() == []
