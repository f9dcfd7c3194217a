"""Inspector smoke test on the Redis Cluster: per-queue reads and changes on three primaries,
and the cross-queue reads (queue list, stats) that gather from every node."""

from __future__ import annotations

import pytest
from cluster_support import SPREAD_QUEUES
from redis.cluster import RedisCluster

import asynq
from asynq import TaskState


def test_inspector_on_queues_of_three_primaries(cluster_url: str, raw: RedisCluster) -> None:
    with asynq.Client(cluster_url) as client, asynq.Inspector(cluster_url) as inspector:
        critical = [client.enqueue(asynq.Task("c", {"n": i}), queue="critical").id for i in range(3)]
        reports = [client.enqueue(asynq.Task("r", {"n": i}), queue="reports", process_in=3600).id for i in range(2)]
        low = client.enqueue(asynq.Task("l", {}), queue="low", unique=600).id

        assert inspector.queues() == sorted(SPREAD_QUEUES)
        info = {q: inspector.get_queue_info(q) for q in SPREAD_QUEUES}
        assert (info["critical"].pending, info["reports"].scheduled, info["low"].pending) == (3, 2, 1)
        assert all(i.memory_usage for i in info.values())
        stats = inspector.current_stats()
        assert (stats.by_state[TaskState.PENDING], stats.by_state[TaskState.SCHEDULED]) == (4, 2)
        assert stats.broker.version.startswith("7.")
        assert [d.processed for d in inspector.history("critical", 2)] == [0, 0]

        assert [t.id for t in inspector.list_pending_tasks("critical")] == critical
        assert sorted(t.id for t in inspector.list_scheduled_tasks("reports")) == sorted(reports)
        assert inspector.get_task_info("low", low).state is TaskState.PENDING

        inspector.run_task("reports", reports[0])
        assert inspector.get_task_info("reports", reports[0]).state is TaskState.PENDING
        inspector.archive_task("critical", critical[0])
        assert inspector.run_all_archived_tasks("critical") == 1
        inspector.delete_task("critical", critical[1])
        with pytest.raises(asynq.TaskNotFoundError):
            inspector.get_task_info("critical", critical[1])
        assert inspector.delete_all_scheduled_tasks("reports") == 1

        assert inspector.pause_queue("low")
        assert inspector.get_queue_info("low").paused
        assert inspector.unpause_queue("low")

        inspector.delete_queue("low", force=True)
        assert inspector.queues() == ["critical", "reports"]
        assert not list(raw.scan_iter(match="asynq:{low}:*"))  # the unique lock went too
        assert inspector.get_queue_info("critical").pending == 2
        assert inspector.get_queue_info("reports").pending == 1
