"""RedisBroker: the broker protocol over Redis, in Go asynq v0.26's data layout."""

from __future__ import annotations

import collections
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import attrs
import redis
from redis.cluster import RedisCluster
from redis import exceptions as rex

from asynq.brokers import base
from asynq.brokers.base import EnqueueRequest, Lease, TaskMessage, TaskState
from asynq.brokers.redis import codec, keys, scripts
from asynq.brokers.redis.direct import DirectCommands
from asynq.brokers.redis.inspect import RedisInspection
from asynq.errors import BrokerConnectionError, DuplicateTaskError, ReplicationError, TaskIDConflictError

logger = logging.getLogger("asynq")

T = TypeVar("T")

DAY_COUNTER_TTL = 90 * 24 * 3600
"""Daily processed/failed counters expire 90 days after they start, as in Go asynq."""
CORRUPT_TYPE = "asynq:corrupt"
"""Type of the placeholder message archived in place of one that could not be decoded."""
BATCH = 100
"""Most tasks one housekeeping script moves per call, to keep Redis responsive."""
ENQUEUE_CHUNK = 100
"""Most tasks one enqueue script call stores; enqueue_many streams its calls (see enqueue_many)."""

# Errors after which the same call may succeed: the connection broke, the server is loading,
# or (after a failover) we reached a demoted primary and must re-resolve the new one.
_TRANSIENT = (
    rex.ConnectionError,
    rex.TimeoutError,
    rex.BusyLoadingError,
    rex.ReadOnlyError,
    rex.TryAgainError,
    # Redis Cluster: a primary is down and not yet replaced (CLUSTERDOWN, MASTERDOWN), or no
    # node serves the slot right now. redis-py follows MOVED/ASK redirects on its own.
    rex.ClusterError,
    rex.SlotNotCoveredError,
)

_KNOWN_STATES = frozenset(s.value for s in TaskState)

_ENQUEUE_OUTCOME = {1: TaskState.PENDING, 2: TaskState.SCHEDULED}


def _day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def _ns(now: float) -> int:
    return int(now * 1e9)


class RedisBroker(RedisInspection, base.Broker):
    """Stores tasks in Redis (standalone, Sentinel-managed or, later, Cluster).

    Every call that fails because Redis is unreachable is retried with backoff for up to
    ``retry_timeout`` seconds, then raises :class:`BrokerConnectionError` naming ``address``.
    Retrying is safe: each script is idempotent or fenced against a second run.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        address: str,
        retry_timeout: float = 5.0,
        archive_max_age: float = 90 * 24 * 3600,
        archive_max_size: int = 10_000,
    ) -> None:
        if archive_max_age <= 0 or archive_max_size <= 0:
            raise ValueError("archive_max_age and archive_max_size must be positive")
        self._client = client
        self.address = address
        self._retry_timeout = retry_timeout
        self._archive_max_age = archive_max_age
        self._archive_max_size = archive_max_size
        self._scripts_loaded = False
        # On one server (standalone or Sentinel-managed) the enqueue script also registers the
        # queue in asynq:queues; on Redis Cluster that key lives in another slot, so a SADD goes
        # alongside the script calls in the same pipeline.
        self._one_node = isinstance(client, redis.Redis)
        # Script calls on one server skip redis-py's per-call work (see direct.py).
        self._direct = DirectCommands(client.connection_pool) if isinstance(client, redis.Redis) else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address}>"

    # --- plumbing --------------------------------------------------------------------------

    def _run(self, operation: Callable[[], T]) -> T:
        """Run ``operation``, riding out transient Redis errors until the retry timeout."""
        deadline = time.monotonic() + self._retry_timeout
        delay = 0.05
        while True:
            try:
                if not self._scripts_loaded:
                    scripts.load_all(self._client)
                    self._scripts_loaded = True
                return operation()
            except rex.NoScriptError:
                # Redis restarted or failed over and lost its script cache.
                self._scripts_loaded = False
            except rex.AuthenticationError as exc:
                # A subclass of ConnectionError, but retrying cannot fix a wrong password.
                logger.debug("redis at %s refused the credentials: %s", self.address, exc)
                raise BrokerConnectionError(self.address, exc) from exc
            except _TRANSIENT as exc:
                if time.monotonic() + delay > deadline:
                    raise BrokerConnectionError(self.address, exc) from exc
                logger.debug("redis at %s unavailable (%s); retrying in %.2fs", self.address, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _script(self, name: str, keys_: Sequence[str], args: Sequence[Any]) -> Any:
        direct = self._direct
        if direct is not None:
            command = scripts.command(name, keys_, args)
            return self._run(lambda: direct.execute_command(*command))
        return self._run(lambda: scripts.call(self._client, name, keys_, args))

    def _pipelined(self, fill: Callable[[Any], object]) -> list[Any]:
        """Send the commands ``fill`` queues on a pipeline in one round trip."""

        def operation() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            fill(pipe)
            return pipe.execute()

        return self._run(operation)

    # --- producing -------------------------------------------------------------------------

    def enqueue(
        self, request: EnqueueRequest, *, now: float, replicas: int = 0, replica_timeout: float = 1.0
    ) -> TaskState:
        if replicas <= 0 and self._one_node:
            # The common case: one script call, no pipeline.
            (reply,) = self._script("enqueue", *self._enqueue_script_call(request.message.queue, [request], now))
            result = self._enqueue_outcome(request, reply)
            if isinstance(result, Exception):
                raise result
            return result
        try:
            (result,) = self.enqueue_many([request], now=now, replicas=replicas, replica_timeout=replica_timeout)
        except ReplicationError as exc:
            if exc.results and isinstance(exc.results[0], Exception):
                raise exc.results[0] from None  # nothing was stored: the wait is beside the point
            raise
        if isinstance(result, Exception):
            raise result
        return result

    def enqueue_many(
        self, requests: Sequence[EnqueueRequest], *, now: float, replicas: int = 0, replica_timeout: float = 1.0
    ) -> list[TaskState | Exception]:
        if not requests:
            return []
        # One script call per queue and chunk of tasks (all of a call's keys in one slot).
        by_queue: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            by_queue.setdefault(request.message.queue, []).append(index)
        chunks = [
            (queue, indexes[lo:lo + ENQUEUE_CHUNK])
            for queue, indexes in by_queue.items()
            for lo in range(0, len(indexes), ENQUEUE_CHUNK)
        ]

        def script_calls() -> Iterator[tuple[list[str], list[Any]]]:
            for queue, chunk in chunks:
                yield self._enqueue_script_call(queue, [requests[i] for i in chunk], now)

        register = not self._one_node  # the scripts can't: a SADD of its own
        if self._direct is not None and replicas <= 0:
            direct = self._direct
            # Each chunk is sent as soon as it is encoded: Redis stores one while we encode the next.
            replies = self._run(
                lambda: direct.execute_streamed(scripts.command("enqueue", *call) for call in script_calls())
            )
        else:

            def fill(pipe: Any) -> None:
                if register:
                    pipe.sadd(keys.ALL_QUEUES, *by_queue)
                for script_keys, args in script_calls():
                    scripts.call(pipe, "enqueue", script_keys, args)
                if replicas > 0:
                    self._queue_wait(pipe, by_queue, replicas, replica_timeout)

            replies = self._pipelined(fill)
            if register:
                replies = replies[1:]
        outcomes: list[TaskState | Exception] = [TaskState.PENDING] * len(requests)
        for (_, chunk), reply in zip(chunks, replies):
            for index, code in zip(chunk, reply):
                outcomes[index] = self._enqueue_outcome(requests[index], code)
        if replicas > 0:
            # One WAIT per node written to (one on a single server); the weakest one counts.
            acked = min(replies[len(chunks):])
            if acked < replicas:
                raise ReplicationError(self.address, acked, replicas, replica_timeout, outcomes)
        return outcomes

    def _enqueue_script_call(
        self, queue: str, requests: Sequence[EnqueueRequest], now: float
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of one enqueue.lua call storing ``requests``, all of ``queue``."""
        if self._one_node:
            script_keys = [keys.pending(queue), keys.scheduled(queue), keys.ALL_QUEUES]
            args: list[Any] = [_ns(now), keys.WAKEUP_CHANNEL, queue, "1"]
        else:
            script_keys = [keys.pending(queue), keys.scheduled(queue)]
            args = [_ns(now), keys.WAKEUP_CHANNEL, queue, "0"]
        task_prefix = keys.task_prefix(queue)
        for request in requests:
            m = request.message
            script_keys.append(task_prefix + m.id)
            ttl_ms = ""
            if request.unique_ttl is not None:
                script_keys.append(m.unique_key)
                ttl_ms = str(max(1, int(request.unique_ttl * 1000)))
            at = request.process_at
            args += [codec.encode_task(m), m.id, "" if at is None or at <= now else repr(at), ttl_ms]
        return script_keys, args

    def _queue_wait(self, pipe: Any, queues: Iterable[str], replicas: int, timeout: float) -> None:
        """Queue ``WAIT replicas timeout`` behind the writes, on the connection that made them.

        WAIT waits until replicas acknowledged the replication offset its connection had
        reached with its previous command, so it must follow the scripts on the same
        connection, in the same pipeline (one round trip). On a single server (standalone or
        Sentinel-managed) that is the pipeline's one connection. On Redis Cluster the writes
        went to the primaries serving the queues' slots and the queue registry's slot, each
        over its own connection: one WAIT goes to each of those nodes, after that node's
        writes. (A slot that moves between routing and sending is not covered: redis-py
        re-sends the redirected write elsewhere, and the WAIT answers for the old node.)
        """
        timeout_ms = max(1, round(timeout * 1000))
        locate = getattr(self._client, "get_node_from_key", None)  # only Redis Cluster has it
        if locate is None:
            pipe.execute_command("WAIT", replicas, timeout_ms)
            return
        nodes = {}
        for key in [keys.ALL_QUEUES, *(keys.pending(q) for q in queues)]:
            node = locate(key)
            nodes[node.name] = node
        for node in nodes.values():
            pipe.execute_command("WAIT", replicas, timeout_ms, target_nodes=node)

    @staticmethod
    def _enqueue_outcome(request: EnqueueRequest, reply: int) -> TaskState | Exception:
        m = request.message
        if reply == 0:
            return TaskIDConflictError(m.queue, m.id)
        if reply == -1:
            return DuplicateTaskError(m.queue, m.unique_key)
        return _ENQUEUE_OUTCOME[reply]

    # --- consuming -------------------------------------------------------------------------

    def dequeue(
        self, queues: Sequence[str], count: int, *, now: float, lease_until: float
    ) -> list[Lease]:
        token = uuid.uuid4().hex
        leases: list[Lease] = []
        for queue in queues:
            wanted = count - len(leases)
            if wanted <= 0:
                break
            reply = self._script("dequeue", *self._dequeue_call(queue, wanted, token, lease_until))
            leases += self._leases_from(queue, reply, token, lease_until, now)
        return leases

    @staticmethod
    def _dequeue_call(queue: str, count: int, token: str, lease_until: float) -> tuple[list[str], list[Any]]:
        return (
            [keys.pending(queue), keys.paused(queue), keys.active(queue), keys.lease(queue)],
            [repr(lease_until), keys.task_prefix(queue), count, token],
        )

    def _leases_from(
        self, queue: str, reply: Sequence[bytes], token: str, lease_until: float, now: float
    ) -> list[Lease]:
        leases = []
        for task_id, raw, state in zip(reply[::3], reply[1::3], reply[2::3]):
            lease = self._lease_from(queue, task_id.decode(), raw, token, lease_until, now, state.decode())
            if lease is not None:
                leases.append(lease)
        return leases

    def _lease_from(
        self, queue: str, task_id: str, raw: bytes, token: str, expires_at: float, now: float,
        state: str = TaskState.ACTIVE.value,
    ) -> Lease | None:
        """Decode a leased task; a corrupt one, or one whose stored state (before it was
        leased) is none asynq knows, is archived with an error saying so."""
        try:
            message = codec.decode_task(raw)
        except codec.CorruptMessageError as exc:
            logger.error("archiving task %s of queue %s: %s", task_id, queue, exc)
            placeholder = TaskMessage(
                type=CORRUPT_TYPE, payload=raw, id=task_id, queue=queue, error_msg=f"corrupt task message: {exc}"
            )
            self.archive(Lease(placeholder, token, expires_at), placeholder, now=now)
            return None
        if state not in _KNOWN_STATES:
            error = f"unknown task state {state!r} in Redis (a task in the pending list should be 'pending')"
            logger.error("archiving task %s of queue %s: %s", task_id, queue, error)
            odd = attrs.evolve(message, error_msg=error)
            self.archive(Lease(odd, token, expires_at), odd, now=now)
            return None
        return Lease(message, token, expires_at)

    def succeed(self, lease: Lease, *, now: float) -> bool:
        return self.succeed_many([lease], now=now)[0]

    def succeed_many(self, leases: Sequence[Lease], *, now: float) -> list[bool]:
        """``succeed`` for several tasks in one round trip: one script call per queue.

        Each task is fenced on its own lease, as by ``succeed``; the result says, per lease
        in order, whether it was settled (False: lease lost, nothing changed for it).
        """
        by_queue, calls = self._succeed_calls(leases, now)
        if len(calls) == 1:
            replies = [self._script("succeed", *calls[0])]
        else:
            replies = self._pipelined(lambda pipe: [scripts.call(pipe, "succeed", k, a) for k, a in calls])
        return self._succeeded(leases, by_queue, replies)

    def succeed_and_dequeue(
        self, leases: Sequence[Lease], queues: Sequence[str], count: int, *, now: float, lease_until: float
    ) -> tuple[list[bool], list[Lease]]:
        """``succeed_many`` and ``dequeue`` in one round trip. When every lease belongs to the
        first queue in ``queues`` (a worker on one queue, the common case) that is one script
        call; otherwise a pipeline of the succeed script(s) and the dequeue script for the
        first queue. Only if that queue gives fewer than ``count`` tasks are the next queues
        asked, in order, as ``dequeue`` does."""
        if not leases or count <= 0 or not queues or getattr(self.succeed_many, "__func__", None) is not (
            RedisBroker.succeed_many
        ):
            # A replaced succeed_many (a subclass, a wrapper) must still see every success.
            return super().succeed_and_dequeue(leases, queues, count, now=now, lease_until=lease_until)
        by_queue, calls = self._succeed_calls(leases, now)
        token = uuid.uuid4().hex
        first = queues[0]
        fetch_keys, fetch_args = self._dequeue_call(first, count, token, lease_until)
        if list(by_queue) == [first]:
            # dequeue's keys end with the active list and lease zset that succeed's begin with.
            (succeed_keys, succeed_args), = calls
            done_replies, fetched = self._script(
                "succeed_and_dequeue", fetch_keys[:2] + succeed_keys, fetch_args + succeed_args
            )
            replies = [done_replies, fetched]
        else:
            def fill(pipe: Any) -> None:
                for k, a in calls:
                    scripts.call(pipe, "succeed", k, a)
                scripts.call(pipe, "dequeue", fetch_keys, fetch_args)

            replies = self._pipelined(fill)
        done = self._succeeded(leases, by_queue, replies[:-1])
        got = self._leases_from(first, replies[-1], token, lease_until, now)
        if len(got) < count and len(queues) > 1:
            got += self.dequeue(queues[1:], count - len(got), now=now, lease_until=lease_until)
        return done, got

    def _succeed_calls(
        self, leases: Sequence[Lease], now: float
    ) -> tuple[dict[str, list[Lease]], list[tuple[list[str], list[Any]]]]:
        by_queue: dict[str, list[Lease]] = {}
        for lease in leases:
            by_queue.setdefault(lease.message.queue, []).append(lease)
        day = _day(now)
        day_expiry = int(now) + DAY_COUNTER_TTL
        calls = []
        for q, held in by_queue.items():
            script_keys = [keys.active(q), keys.lease(q), keys.completed(q), keys.processed_on(q, day),
                           keys.processed_total(q)]
            args: list[Any] = [day_expiry]
            for lease in held:
                m = lease.message
                script_keys.append(keys.task(q, m.id))
                if m.unique_key:
                    script_keys.append(m.unique_key)
                msg, expires = b"", ""
                if m.retention > 0:
                    msg = codec.encode_task(attrs.evolve(m, completed_at=int(now)))
                    expires = repr(now + m.retention)
                args += [m.id, lease.token, msg, expires, "1" if m.unique_key else "0"]
            calls.append((script_keys, args))
        return by_queue, calls

    @staticmethod
    def _succeeded(leases: Sequence[Lease], by_queue: dict[str, list[Lease]], replies: Sequence[Any]) -> list[bool]:
        done = {
            (q, lease.message.id): reply == 1
            for (q, held), script_replies in zip(by_queue.items(), replies)
            for lease, reply in zip(held, script_replies)
        }
        return [done[(lease.message.queue, lease.message.id)] for lease in leases]

    def requeue(self, lease: Lease, *, now: float) -> bool:
        m = lease.message
        script_keys = [keys.active(m.queue), keys.lease(m.queue), keys.task(m.queue, m.id), keys.pending(m.queue)]
        args = [m.id, lease.token, _ns(now), keys.WAKEUP_CHANNEL, m.queue]
        return self._script("requeue", script_keys, args) == 1

    def _failure_keys(self, m: TaskMessage, target: str, now: float) -> list[str]:
        q, day = m.queue, _day(now)
        return [
            keys.active(q),
            keys.lease(q),
            keys.task(q, m.id),
            target,
            keys.processed_on(q, day),
            keys.processed_total(q),
            keys.failed_on(q, day),
            keys.failed_total(q),
        ]

    def retry(
        self,
        lease: Lease,
        message: TaskMessage,
        *,
        retry_at: float,
        is_failure: bool,
        now: float,
        only_if_expired: bool = False,
    ) -> bool:
        script_keys = self._failure_keys(message, keys.retry(message.queue), now)
        args = [
            message.id,
            lease.token,
            repr(now) if only_if_expired else "",
            repr(retry_at),
            codec.encode_task(message),
            "1" if is_failure else "0",
            int(now) + DAY_COUNTER_TTL,
        ]
        return self._script("retry", script_keys, args) == 1

    def archive(
        self, lease: Lease, message: TaskMessage, *, now: float, only_if_expired: bool = False
    ) -> bool:
        script_keys = self._failure_keys(message, keys.archived(message.queue), now)
        args = [
            message.id,
            lease.token,
            repr(now) if only_if_expired else "",
            repr(now),
            codec.encode_task(message),
            int(now) + DAY_COUNTER_TTL,
            repr(now - self._archive_max_age),
            self._archive_max_size,
            keys.task_prefix(message.queue),
        ]
        return self._script("archive", script_keys, args) == 1

    def write_result(self, lease: Lease, data: bytes) -> bool:
        m = lease.message
        return self._script("write_result", [keys.task(m.queue, m.id)], [lease.token, data]) == 1

    def extend_leases(self, leases: Sequence[Lease], *, until: float) -> list[Lease]:
        by_queue: dict[str, list[Lease]] = {}
        for lease in leases:
            by_queue.setdefault(lease.message.queue, []).append(lease)
        if not by_queue:
            return []

        def fill(pipe: Any) -> None:
            for queue, held in by_queue.items():
                script_keys = [keys.lease(queue)] + [keys.task(queue, h.message.id) for h in held]
                args: list[Any] = [repr(until)]
                for h in held:
                    args += [h.message.id, h.token]
                scripts.call(pipe, "extend_leases", script_keys, args)

        lost_ids = {
            (queue, task_id.decode())
            for queue, reply in zip(by_queue, self._pipelined(fill))
            for task_id in reply
        }
        return [lease for lease in leases if (lease.message.queue, lease.message.id) in lost_ids]

    # --- housekeeping ----------------------------------------------------------------------

    def _per_queue(self, queues: Iterable[str], queue_script: Callable[[Any, str], None]) -> list[Any]:
        """Queue the same commands for every queue, all sent in one round trip."""
        queues = list(queues)
        if not queues:
            return []

        def fill(pipe: Any) -> None:
            for q in queues:
                queue_script(pipe, q)

        return self._pipelined(fill)

    def forward(self, queues: Sequence[str], *, now: float) -> int:
        def queue_script(pipe: Any, q: str) -> None:
            for source in (keys.scheduled(q), keys.retry(q)):
                args = [repr(now), keys.task_prefix(q), _ns(now), BATCH, keys.WAKEUP_CHANNEL, q]
                scripts.call(pipe, "forward", [source, keys.pending(q)], args)

        return sum(self._per_queue(queues, queue_script))

    def next_due_at(self, queues: Sequence[str]) -> float | None:
        def queue_reads(pipe: Any, q: str) -> None:
            pipe.zrange(keys.scheduled(q), 0, 0, withscores=True)
            pipe.zrange(keys.retry(q), 0, 0, withscores=True)

        firsts = [score for reply in self._per_queue(queues, queue_reads) for _, score in reply]
        return min(firsts, default=None)

    def expired_leases(self, queues: Sequence[str], *, now: float) -> list[Lease]:
        def queue_script(pipe: Any, q: str) -> None:
            scripts.call(pipe, "expired_leases", [keys.lease(q)], [repr(now), keys.task_prefix(q), BATCH])

        leases = []
        for q, reply in zip(queues, self._per_queue(queues, queue_script)):
            for task_id, raw, token in zip(reply[::3], reply[1::3], reply[2::3]):
                # The lease already expired, so a corrupt message is archived on the spot.
                lease = self._lease_from(q, task_id.decode(), raw, token.decode(), now, now)
                if lease is not None:
                    leases.append(lease)
        return leases

    def reconcile_active(self, queues: Sequence[str], *, now: float) -> int:
        def queue_script(pipe: Any, q: str) -> None:
            scripts.call(pipe, "reconcile_active", [keys.active(q), keys.lease(q)], [repr(now)])

        return sum(self._per_queue(queues, queue_script))

    def delete_expired_completed(self, queues: Sequence[str], *, now: float) -> int:
        def queue_script(pipe: Any, q: str) -> None:
            args = [repr(now), keys.task_prefix(q), BATCH]
            scripts.call(pipe, "delete_expired_completed", [keys.completed(q)], args)

        return sum(self._per_queue(queues, queue_script))

    def write_server_state(
        self,
        server: base.ServerState,
        workers: Sequence[base.WorkerState],
        *,
        ttl: float,
        now: float,
    ) -> None:
        server_key = keys.server_info(server.host, server.pid, server.server_id)
        workers_key = keys.workers(server.host, server.pid, server.server_id)
        args: list[Any] = [int(ttl * 1000), codec.encode_server(server)]
        for w in workers:
            args += [w.task_id, codec.encode_worker(w)]

        def fill(pipe: Any) -> None:
            scripts.call(pipe, "write_server_state", [server_key, workers_key], args)
            pipe.zadd(keys.ALL_SERVERS, {server_key: now + ttl})
            pipe.zadd(keys.ALL_WORKERS, {workers_key: now + ttl})

        self._pipelined(fill)

    def clear_server_state(self, server: base.ServerState) -> None:
        server_key = keys.server_info(server.host, server.pid, server.server_id)
        workers_key = keys.workers(server.host, server.pid, server.server_id)

        def fill(pipe: Any) -> None:
            pipe.zrem(keys.ALL_SERVERS, server_key)
            pipe.zrem(keys.ALL_WORKERS, workers_key)
            pipe.delete(server_key)
            pipe.delete(workers_key)

        self._pipelined(fill)

    def publish_cancellation(self, task_id: str) -> None:
        self._run(lambda: self._client.publish(keys.CANCEL_CHANNEL, task_id))

    def subscribe(self) -> base.Subscription:
        return _RedisSubscription(self)

    # --- inspecting ------------------------------------------------------------------------

    def queues(self) -> list[str]:
        members: set[bytes] = self._run(lambda: self._client.smembers(keys.ALL_QUEUES))  # type: ignore[arg-type, return-value]
        return sorted(q.decode() for q in members)

    # --- lifecycle -------------------------------------------------------------------------

    def ping(self) -> None:
        self._run(self._client.ping)

    def close(self) -> None:
        if self._direct is not None:
            self._direct.close()
        self._client.close()


_CHANNEL_KINDS = {
    keys.CANCEL_CHANNEL.encode(): base.NoticeKind.CANCEL,
    keys.WAKEUP_CHANNEL.encode(): base.NoticeKind.WAKEUP,
}


def _notice(message: dict[str, Any]) -> base.Notice | None:
    """The notice a pub/sub message carries; None for a (un)subscribe confirmation."""
    if message["type"] != "message":
        return None
    return base.Notice(_CHANNEL_KINDS[message["channel"]], message["data"].decode())


class _RedisSubscription(base.Subscription):
    """Cancellations and wake-ups over Redis pub/sub; reconnects and resubscribes on its own.

    It is ready when the constructor returns: Redis has confirmed both channels, so a notice
    published afterwards is never missed. (SUBSCRIBE and a PUBLISH on another connection sent
    just after it may reach Redis in either order.)
    """

    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker
        self._early: collections.deque[base.Notice] = collections.deque()
        self._pubsub = broker._client.pubsub()
        try:
            broker._run(lambda: self._pubsub.subscribe(*(c.decode() for c in _CHANNEL_KINDS)))
            self._await_confirmations()
        except BaseException:
            self._pubsub.close()  # its connection goes back to the pool
            raise

    def _await_confirmations(self) -> None:
        """Wait until Redis has confirmed every channel, keeping notices that come meanwhile."""
        confirmed: set[bytes] = set()
        deadline = time.monotonic() + self._broker._retry_timeout
        while len(confirmed) < len(_CHANNEL_KINDS):
            left = deadline - time.monotonic()
            if left <= 0:
                unconfirmed = TimeoutError("Redis did not confirm the subscription")
                raise BrokerConnectionError(self._broker.address, unconfirmed)
            message = self._broker._run(lambda: self._pubsub.get_message(timeout=left))
            if message is None:
                continue
            if message["type"] == "subscribe":
                confirmed.add(message["channel"])
            elif (notice := _notice(message)) is not None:  # on a channel confirmed first
                self._early.append(notice)

    def get(self, timeout: float) -> base.Notice | None:
        if self._early:
            return self._early.popleft()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            # Confirmations after a reconnect come through here too; keep waiting.
            message = self._broker._run(lambda: self._pubsub.get_message(timeout=left))
            if message is not None and (notice := _notice(message)) is not None:
                return notice
        return None

    def close(self) -> None:
        self._pubsub.close()
