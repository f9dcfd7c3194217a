"""Inspector queue operations: info, history, pause, delete; servers and current stats."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import pytest
from inspector_world import LEASE, Q, S, World, utc

from asynq import (
    BrokerInfo,
    Client,
    CurrentStats,
    DailyStats,
    Inspector,
    MemoryBroker,
    QueueInfo,
    QueueNotEmptyError,
    ServerInfo,
    Task,
    WorkerInfo,
)
from asynq.brokers.base import Broker, ServerState, WorkerState
from asynq.brokers.redis import keys
from asynq.payload import Payload
from asynq.testing import FakeClock

DAY = dt.date(2027, 1, 15)
"""The fake clock's (and so the seeded counters') UTC date."""


def test_queues(inspector: Inspector, client: Client) -> None:
    assert inspector.queues() == []
    for queue in ("low", "critical", "default"):
        client.enqueue(Task("t"), queue=queue)
    assert inspector.queues() == ["critical", "default", "low"]


def test_queue_info(inspector: Inspector, world: World, clock: FakeClock, broker: Broker) -> None:
    clock.advance(5)
    info = inspector.get_queue_info(Q)
    expected = QueueInfo(
        queue=Q,
        size=8,
        pending=2,
        active=2,
        scheduled=1,
        retry=1,
        archived=1,
        completed=1,
        processed=3,
        failed=2,
        processed_total=3,
        failed_total=2,
        paused=False,
        latency=dt.timedelta(seconds=5),
        memory_usage=None,
        timestamp=utc(clock.now()),
    )
    assert attrs.evolve(info, memory_usage=None) == expected
    if isinstance(broker, MemoryBroker):
        assert info.memory_usage is None  # fakeredis has no MEMORY USAGE
    else:
        assert info.memory_usage is not None and info.memory_usage > 1000


def test_latency_is_zero_without_pending_tasks(inspector: Inspector, client: Client, clock: FakeClock) -> None:
    client.enqueue(Task("t"), queue=Q, process_in=60)
    clock.advance(30)
    assert inspector.get_queue_info(Q).latency == dt.timedelta(0)


def test_history(inspector: Inspector, world: World, clock: FakeClock) -> None:
    assert inspector.history(Q, days=3) == [
        DailyStats(Q, DAY, 3, 2),
        DailyStats(Q, DAY - dt.timedelta(days=1), 0, 0),
        DailyStats(Q, DAY - dt.timedelta(days=2), 0, 0),
    ]
    assert len(inspector.history(Q)) == 7
    clock.advance(24 * 3600)
    assert [(d.date, d.processed, d.failed) for d in inspector.history(Q, days=2)] == [
        (DAY + dt.timedelta(days=1), 0, 0),
        (DAY, 3, 2),
    ]
    info = inspector.get_queue_info(Q)
    assert (info.processed, info.failed, info.processed_total, info.failed_total) == (0, 0, 3, 2)


def test_pause_and_unpause(inspector: Inspector, world: World, broker: Broker, clock: FakeClock, db: Any) -> None:
    assert inspector.pause_queue(Q) is True
    assert inspector.pause_queue(Q) is False
    assert db.get(keys.paused(Q)) == str(int(clock.now())).encode()
    assert inspector.get_queue_info(Q).paused
    assert broker.dequeue([Q], 1, now=clock.now(), lease_until=clock.now() + LEASE) == []
    assert inspector.unpause_queue(Q) is True
    assert inspector.unpause_queue(Q) is False
    assert not inspector.get_queue_info(Q).paused
    (lease,) = broker.dequeue([Q], 1, now=clock.now(), lease_until=clock.now() + LEASE)
    assert lease.message.id == world.ids[S.PENDING][0]


def finish_active(broker: Broker, clock: FakeClock) -> None:
    """Settle every active task as a recovering worker would: succeed them."""
    clock.advance(LEASE + 1)
    for lease in broker.expired_leases([Q], now=clock.now()):
        assert broker.succeed(lease, now=clock.now())


def test_delete_queue(
    inspector: Inspector, world: World, client: Client, broker: Broker, clock: FakeClock, db: Any
) -> None:
    client.enqueue(Task("other"), queue="low")
    with pytest.raises(QueueNotEmptyError, match=r"queue 'default' has 2 active task\(s\)"):
        inspector.delete_queue(Q, force=True)
    finish_active(broker, clock)
    with pytest.raises(QueueNotEmptyError, match=r"queue 'default' holds 7 task\(s\); force"):
        inspector.delete_queue(Q)
    assert inspector.get_queue_info(Q).size == 7
    inspector.delete_queue(Q, force=True)
    assert inspector.queues() == ["low"]
    assert db.keys("asynq:{default}*") == []
    assert inspector.get_queue_info("low").pending == 1
    # The queue can be used again from scratch.
    client.enqueue(Task("work:unique", {"n": 2}), queue=Q, unique=60)
    assert inspector.get_queue_info(Q).processed_total == 0


def test_delete_empty_queue_without_force(inspector: Inspector, client: Client, db: Any) -> None:
    client.enqueue(Task("t"), queue=Q)
    assert inspector.delete_all_pending_tasks(Q) == 1
    inspector.delete_queue(Q)
    assert inspector.queues() == []
    assert db.keys("asynq:{default}*") == []


def server(sid: str, *, busy: int) -> ServerState:
    return ServerState(
        host="host-a",
        pid=100,
        server_id=sid,
        concurrency=8,
        queues={"critical": 6, "default": 3},
        strict_priority=False,
        status="active",
        started_at=1_700_000_000.5,
        active_worker_count=busy,
    )


def worker(sid: str, task_id: str, started_at: float) -> WorkerState:
    return WorkerState(
        host="host-a",
        pid=100,
        server_id=sid,
        task_id=task_id,
        task_type="email:send",
        task_payload=b'{"to": "ada"}',
        queue="default",
        started_at=started_at,
        deadline=0,
    )


def test_servers(inspector: Inspector, broker: Broker, clock: FakeClock, db: Any) -> None:
    now = clock.now()
    live = server("live", busy=2)
    broker.write_server_state(live, [worker("live", "t2", now - 1), worker("live", "t1", now - 5)], ttl=30, now=now)
    broker.write_server_state(server("dead", busy=0), [], ttl=30, now=now - 100)
    (shown,) = inspector.servers()
    assert shown == ServerInfo(
        id="live",
        host="host-a",
        pid=100,
        concurrency=8,
        queues={"critical": 6, "default": 3},
        strict_priority=False,
        status="active",
        started=utc(1_700_000_000.5),
        active_workers=(
            WorkerInfo("t1", "email:send", Payload.from_bytes(b'{"to": "ada"}'), "default", utc(now - 5), None),
            WorkerInfo("t2", "email:send", Payload.from_bytes(b'{"to": "ada"}'), "default", utc(now - 1), None),
        ),
    )
    assert shown.active_workers[0].task_payload.get_str("to") == "ada"
    assert db.zcard(keys.ALL_SERVERS) == 1 and db.zcard(keys.ALL_WORKERS) == 1  # the dead one dropped
    broker.clear_server_state(live)
    assert inspector.servers() == []


def test_current_stats(inspector: Inspector, world: World, client: Client, broker: Broker, clock: FakeClock) -> None:
    client.enqueue(Task("t"), queue="low")
    stats = inspector.current_stats()
    assert isinstance(stats, CurrentStats)
    assert stats.timestamp == utc(clock.now())
    assert stats.by_state == {S.PENDING: 3, S.ACTIVE: 2, S.SCHEDULED: 1, S.RETRY: 1, S.ARCHIVED: 1, S.COMPLETED: 1}
    assert [(q.queue, q.size) for q in stats.queues] == [("default", 8), ("low", 1)]
    assert stats.queues[0] == inspector.get_queue_info(Q)
    assert (stats.processed, stats.failed, stats.error_rate) == (3, 2, pytest.approx(2 / 3))
    if isinstance(broker, MemoryBroker):
        assert stats.broker == BrokerInfo("memory")
    else:
        info = stats.broker
        assert info.address == broker.address  # type: ignore[attr-defined]
        assert info.version and info.version[0].isdigit()
        assert info.uptime_seconds is not None and info.uptime_seconds >= 0
        assert info.connected_clients is not None and info.connected_clients >= 1
        assert info.used_memory is not None and info.used_memory > 0
        assert info.used_memory_human and info.used_memory_peak_human


def test_current_stats_of_nothing(inspector: Inspector) -> None:
    stats = inspector.current_stats()
    assert (stats.queues, stats.processed, stats.error_rate) == ((), 0, 0.0)
    assert set(stats.by_state.values()) == {0}
