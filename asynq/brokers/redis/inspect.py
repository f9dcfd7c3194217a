"""RedisBroker's inspection operations: read and change queues and tasks for operators.

A mixin of :class:`~asynq.brokers.redis.broker.RedisBroker`, using its plumbing (``_run``,
``_script``, ``_pipelined``). Each change is one Lua script over the keys of one queue, so it
is atomic and Cluster-safe; ``*_all`` operations repeat a script that moves one batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from redis import exceptions as rex

from asynq.brokers.base import (
    BrokerInfo,
    DailyCounts,
    QueueStats,
    ServerRecord,
    TaskMessage,
    TaskRecord,
    TaskState,
)
from asynq.brokers.redis import codec, keys
from asynq.errors import QueueNotEmptyError, QueueNotFoundError, TaskNotFoundError, TaskStateError

if TYPE_CHECKING:
    import redis

T = TypeVar("T")

BULK_BATCH = 1000
"""Most tasks one ``*_all`` script call moves; calls repeat until the state is drained."""
MEMORY_SAMPLE = 20
"""Task hashes per state measured to estimate a queue's memory, as Go asynq does."""
COUNTER_DAYS = 92
"""Days of daily counters a queue may have: 90 days of life, a day of clock skew either side."""
DAY = 24 * 3600

S = TaskState
_LISTS: dict[TaskState, Callable[[str], str]] = {S.PENDING: keys.pending, S.ACTIVE: keys.active}
_ZSETS: dict[TaskState, Callable[[str], str]] = {
    S.SCHEDULED: keys.scheduled,
    S.RETRY: keys.retry,
    S.ARCHIVED: keys.archived,
    S.COMPLETED: keys.completed,
}
_INDEXES = {**_LISTS, **_ZSETS}
"""Each state's index key, in the KEYS order of queue_stats.lua and remove_queue.lua."""


@attrs.frozen
class _Action:
    """An operator's state change, one script for one task or a batch of one state."""

    verb: str
    sources: tuple[TaskState, ...]

    @property
    def script(self) -> str:
        return f"{self.verb}_tasks"

    def check(self, state: TaskState) -> None:
        if state not in self.sources:
            raise ValueError(f"cannot {self.verb} {state.value} tasks; only {_names(self.sources)} ones")


_RUN = _Action("run", (S.SCHEDULED, S.RETRY, S.ARCHIVED))
_ARCHIVE = _Action("archive", (S.PENDING, S.SCHEDULED, S.RETRY))
_DELETE = _Action("delete", (S.PENDING, S.SCHEDULED, S.RETRY, S.ARCHIVED, S.COMPLETED))


def _names(states: Sequence[TaskState]) -> str:
    return ", ".join(s.value for s in states)


def _days_back(now: float, days: int) -> list[str]:
    """UTC dates (YYYY-MM-DD) of the ``days`` days ending with ``now``'s, newest first."""
    return [time.strftime("%Y-%m-%d", time.gmtime(now - i * DAY)) for i in range(days)]


def _index_keys(queue: str) -> list[str]:
    """The KEYS every action script starts with."""
    return [keys.pending(queue), keys.scheduled(queue), keys.retry(queue), keys.archived(queue), keys.completed(queue)]


def _optional_float(raw: bytes | str) -> float | None:
    return float(raw) if raw not in (b"", "") else None


def _decode(queue: str, task_id: str, raw: bytes) -> TaskMessage:
    """The stored message; a corrupt one is shown with the decoding error instead of failing."""
    try:
        return codec.decode_task(raw)
    except codec.CorruptMessageError as exc:
        return TaskMessage(type="", payload=raw, id=task_id, queue=queue, error_msg=str(exc))


def _record(
    queue: str, state: TaskState, task_id: str, raw: bytes, score: bytes, since: bytes, result: bytes
) -> TaskRecord:
    pending_since = _optional_float(since)
    return TaskRecord(
        message=_decode(queue, task_id, raw),
        state=state,
        score=_optional_float(score),
        pending_since=pending_since / 1e9 if pending_since is not None else None,
        result=result or None,
    )


class RedisInspection:
    """The inspection half of the broker protocol over Redis."""

    if TYPE_CHECKING:
        _client: redis.Redis | redis.cluster.RedisCluster
        address: str
        _archive_max_age: float
        _archive_max_size: int

        def _run(self, operation: Callable[[], T]) -> T: ...
        def _script(self, name: str, keys_: Sequence[str], args: Sequence[Any]) -> Any: ...
        def _pipelined(self, fill: Callable[[Any], None]) -> list[Any]: ...

    def _require_queue(self, queue: str) -> None:
        if not self._run(lambda: self._client.sismember(keys.ALL_QUEUES, queue)):
            raise QueueNotFoundError(f"queue {queue!r} does not exist")

    # --- reading ---------------------------------------------------------------------------

    def queue_stats(self, queue: str, *, now: float) -> QueueStats:
        self._require_queue(queue)
        (day,) = _days_back(now, 1)
        script_keys = [
            *(index(queue) for index in _INDEXES.values()),
            keys.lease(queue),
            keys.paused(queue),
            keys.processed_on(queue, day),
            keys.processed_total(queue),
            keys.failed_on(queue, day),
            keys.failed_total(queue),
        ]
        reply = self._script("queue_stats", script_keys, [keys.task_prefix(queue), MEMORY_SAMPLE])
        processed_today, processed_total, failed_today, failed_total, paused, oldest, memory = reply[6:]
        oldest_ns = _optional_float(oldest)
        return QueueStats(
            queue=queue,
            sizes=dict(zip(_INDEXES, reply[:6])),
            processed_today=processed_today,
            failed_today=failed_today,
            processed_total=processed_total,
            failed_total=failed_total,
            paused=paused == 1,
            oldest_pending_since=oldest_ns / 1e9 if oldest_ns is not None else None,
            memory_usage=memory if memory >= 0 else None,
        )

    def history(self, queue: str, days: int, *, now: float) -> list[DailyCounts]:
        self._require_queue(queue)
        dates = _days_back(now, days)
        names = [name for d in dates for name in (keys.processed_on(queue, d), keys.failed_on(queue, d))]
        values = self._run(lambda: self._client.mget(names))
        return [DailyCounts(d, int(p or 0), int(f or 0)) for d, p, f in zip(dates, values[::2], values[1::2])]

    def list_tasks(self, queue: str, state: TaskState, *, offset: int, count: int) -> list[TaskRecord]:
        if state in _LISTS:
            kind, script_keys = "list", [_LISTS[state](queue)]
            if state is S.ACTIVE:
                script_keys.append(keys.lease(queue))
        elif state in _ZSETS:
            kind, script_keys = "zset", [_ZSETS[state](queue)]
        else:
            raise ValueError(f"cannot list {state.value} tasks")
        self._require_queue(queue)
        reply = self._script("list_tasks", script_keys, [kind, offset, offset + count - 1, keys.task_prefix(queue)])
        return [
            _record(queue, state, task_id.decode(), raw, score, since, result)
            for task_id, raw, score, since, result in zip(*[iter(reply)] * 5)
        ]

    def get_task(self, queue: str, task_id: str) -> TaskRecord:
        self._require_queue(queue)
        script_keys = [keys.task(queue, task_id), keys.lease(queue), *(index(queue) for index in _ZSETS.values())]
        reply = self._script("get_task", script_keys, [task_id])
        if not reply:
            raise TaskNotFoundError(f"no task {task_id!r} in queue {queue!r}")
        raw, state, score, since, result = reply
        return _record(queue, TaskState(state.decode()), task_id, raw, score, since, result)

    def servers(self, *, now: float) -> list[ServerRecord]:
        def live_servers(pipe: Any) -> None:
            # Nothing else removes the entries of servers that died without clearing them.
            pipe.zremrangebyscore(keys.ALL_SERVERS, "-inf", f"({now!r}")
            pipe.zremrangebyscore(keys.ALL_WORKERS, "-inf", f"({now!r}")
            pipe.zrange(keys.ALL_SERVERS, 0, -1)

        server_keys = [k.decode() for k in self._pipelined(live_servers)[2]]

        def read(pipe: Any) -> None:
            for server_key in server_keys:
                pipe.get(server_key)
                # asynq:servers:{<host>:<pid>:<sid>} -> asynq:workers:{<host>:<pid>:<sid>}
                pipe.hvals(keys.ALL_WORKERS + server_key[len(keys.ALL_SERVERS) :])

        replies = self._pipelined(read) if server_keys else []
        records = [
            ServerRecord(
                codec.decode_server(raw),
                tuple(sorted((codec.decode_worker(w) for w in workers), key=lambda w: w.started_at)),
            )
            for raw, workers in zip(replies[::2], replies[1::2])
            if raw is not None  # expired since it was listed
        ]
        return sorted(records, key=lambda r: (r.server.host, r.server.pid, r.server.started_at))

    def broker_info(self) -> BrokerInfo:
        try:
            info = self._run(self._client.info)
        except rex.ResponseError:  # a server without INFO, like the memory broker's fakeredis
            return BrokerInfo(self.address)
        return BrokerInfo(
            address=self.address,
            version=info.get("redis_version"),
            uptime_seconds=info.get("uptime_in_seconds"),
            connected_clients=info.get("connected_clients"),
            used_memory=info.get("used_memory"),
            used_memory_human=info.get("used_memory_human"),
            used_memory_peak_human=info.get("used_memory_peak_human"),
        )

    # --- changing tasks --------------------------------------------------------------------

    def run_task(self, queue: str, task_id: str, *, now: float) -> None:
        self._change_one(_RUN, queue, task_id, now)

    def archive_task(self, queue: str, task_id: str, *, now: float) -> None:
        self._change_one(_ARCHIVE, queue, task_id, now)

    def delete_task(self, queue: str, task_id: str) -> None:
        self._change_one(_DELETE, queue, task_id, 0.0)

    def run_all(self, queue: str, state: TaskState, *, now: float) -> int:
        return self._change_all(_RUN, queue, state, now)

    def archive_all(self, queue: str, state: TaskState, *, now: float) -> int:
        return self._change_all(_ARCHIVE, queue, state, now)

    def delete_all(self, queue: str, state: TaskState) -> int:
        return self._change_all(_DELETE, queue, state, 0.0)

    def _action_args(self, action: _Action, queue: str, now: float) -> list[Any]:
        """The ARGV following (id or state, task key prefix, batch size)."""
        if action is _RUN:
            return [int(now * 1e9), keys.WAKEUP_CHANNEL, queue]
        if action is _ARCHIVE:
            return [repr(now), repr(now - self._archive_max_age), self._archive_max_size]
        return [keys.queue_prefix(queue)]

    def _change_one(self, action: _Action, queue: str, task_id: str, now: float) -> None:
        self._require_queue(queue)
        args = [task_id, keys.task_prefix(queue), 1, *self._action_args(action, queue, now)]
        reply = self._script(action.script, [*_index_keys(queue), keys.task(queue, task_id)], args)
        if reply == 0:
            raise TaskNotFoundError(f"no task {task_id!r} in queue {queue!r}")
        if isinstance(reply, bytes):
            raise TaskStateError(
                f"cannot {action.verb} task {task_id!r} in queue {queue!r}: it is {reply.decode()} "
                f"(only {_names(action.sources)} tasks can be)"
            )

    def _change_all(self, action: _Action, queue: str, state: TaskState, now: float) -> int:
        action.check(state)
        self._require_queue(queue)
        args = [state.value, keys.task_prefix(queue), BULK_BATCH, *self._action_args(action, queue, now)]
        total = 0
        while True:
            moved = self._script(action.script, _index_keys(queue), args)
            total += moved
            if moved < BULK_BATCH:
                return total

    # --- changing queues -------------------------------------------------------------------

    def pause_queue(self, queue: str, *, now: float) -> bool:
        self._require_queue(queue)
        return bool(self._run(lambda: self._client.set(keys.paused(queue), int(now), nx=True)))

    def unpause_queue(self, queue: str) -> bool:
        self._require_queue(queue)
        return self._run(lambda: self._client.delete(keys.paused(queue))) == 1

    def remove_queue(self, queue: str, *, force: bool, now: float) -> None:
        self._require_queue(queue)
        counters = [
            name
            for d in _days_back(now + DAY, COUNTER_DAYS)
            for name in (keys.processed_on(queue, d), keys.failed_on(queue, d))
        ]
        script_keys = [
            *(index(queue) for index in _INDEXES.values()),
            keys.lease(queue),
            keys.paused(queue),
            keys.processed_total(queue),
            keys.failed_total(queue),
            *counters,
        ]
        args = ["1" if force else "0", keys.task_prefix(queue), keys.queue_prefix(queue)]
        outcome, *count = self._script("remove_queue", script_keys, args)
        if outcome == 0:
            raise QueueNotEmptyError(f"queue {queue!r} has {count[0]} active task(s); wait for them to finish")
        if outcome == -1:
            raise QueueNotEmptyError(f"queue {queue!r} holds {count[0]} task(s); force the removal to delete them")
        self._run(lambda: self._client.srem(keys.ALL_QUEUES, queue))
