"""The broker conformance suite: the contract of :class:`asynq.brokers.base.Broker`, as tests.

Two pytest test classes, to subclass in a test module:

- :class:`BrokerConformance` checks behaviour through the protocol alone, so any broker can
  run it. Provide a ``broker`` fixture: a broker holding no tasks.
- :class:`RedisBrokerConformance` adds table-driven state tests in the Go asynq style: seed
  Redis, run one broker operation, assert the *whole* resulting database (every key, its type,
  contents and expiry) in Go asynq v0.26's layout. Provide ``broker`` (on an empty database)
  and ``redis``: a redis-py client on the same database, returning bytes.

::

    import pytest
    pytest.register_assert_rewrite("asynq.testing.conformance")  # readable failures
    from asynq.testing.conformance import RedisBrokerConformance

    class TestMyBroker(RedisBrokerConformance):
        @pytest.fixture
        def broker(self): ...
        @pytest.fixture
        def redis(self, broker): ...

Task times come from the fixed clock reading :data:`NOW`; the wall clock is read only to check
Redis TTLs, with a tolerance.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from unittest.mock import ANY

import attrs
import pytest

from asynq._proto import asynq_pb2
from asynq.brokers.base import (
    Broker,
    EnqueueRequest,
    Lease,
    Notice,
    NoticeKind,
    ServerState,
    TaskMessage,
    TaskState,
    WorkerState,
)
from asynq.brokers.redis import codec
from asynq.errors import AsynqError, DuplicateTaskError, TaskIDConflictError

# --- the fixed world -------------------------------------------------------------------------

NOW = 1_800_000_000.0
"""The clock reading every operation is given: 2027-01-15T08:00:00Z."""
NOW_NS = 1_800_000_000 * 10**9
DAY = "2027-01-15"
"""NOW's UTC date, as daily counter keys spell it."""
DAY_COUNTER_TTL = 90 * 24 * 3600
LEASE_UNTIL = NOW + 30
TOKEN = "lease-a"
OTHER_TOKEN = "lease-b"
UNIQUE_TTL = 300.0
SERVER_TTL = 30.0
RECOVERED_AT = NOW + 31
"""When the lease fencing story's recoverer finds worker A's lease (30 s) expired."""
TTL_TOLERANCE = 2.0
"""Seconds an expiry read back from Redis may differ from the expected one."""

Q = "default"
CRITICAL = "critical"
LOW = "low"
PAYLOAD = b'{"to": "ada@example.com"}'


def msg(task_id: str, queue: str = Q, *, unique: bool = False, **fields: Any) -> TaskMessage:
    """A task message; ``unique`` sets the uniqueness key of its type and payload."""
    fields.setdefault("type", "email:send")
    fields.setdefault("payload", PAYLOAD)
    if unique:
        fields["unique_key"] = unique_key(queue, fields["type"], fields["payload"])
    return TaskMessage(id=task_id, queue=queue, **fields)


def unique_key(queue: str, task_type: str, payload: bytes) -> str:
    """Go asynq's lock key: the queue, the type and the MD5 of the payload."""
    return f"asynq:{{{queue}}}:unique:{task_type}:{hashlib.md5(payload).hexdigest()}"


def failed(m: TaskMessage, error: str = "boom", at: float = NOW) -> TaskMessage:
    """``m`` as the retry policy updates it after a failed run."""
    return attrs.evolve(m, retried=m.retried + 1, error_msg=error, last_failed_at=int(at))


def request(m: TaskMessage, at: float | None = None) -> EnqueueRequest:
    """Enqueue ``m`` (at ``at``); unique, with :data:`UNIQUE_TTL`, when it has a unique key."""
    return EnqueueRequest(m, process_at=at, unique_ttl=UNIQUE_TTL if m.unique_key else None)


def lease(m: TaskMessage, token: str = TOKEN, expires_at: float = LEASE_UNTIL) -> Lease:
    return Lease(m, token, expires_at)


T1, T2, T3 = msg("t1"), msg("t2"), msg("t3")
T1_OTHER = msg("t1", payload=b"another payload")
"""Not T1, but with T1's ID."""
T1_FAILED = failed(T1)
C1 = msg("c1", CRITICAL)
L1 = msg("l1", LOW)
U0, U1 = msg("u0", unique=True), msg("u1", unique=True)
"""Two unique tasks with the same type and payload: duplicates of each other."""
R1 = msg("r1", retention=600)
FULL = msg(
    "full",
    type="report:build",
    payload=bytes(range(256)),
    retry=3,
    retried=1,
    error_msg="connection reset",
    last_failed_at=int(NOW) - 60,
    timeout=60,
    deadline=int(NOW) + 3600,
    retention=600,
    headers={"trace-id": "abc", "content-type": "application/octet-stream"},
)
"""A message with every field a producer or a retry sets, to check none is lost in transit."""
A1, A2 = msg("a1"), msg("a2")
S1, S2, S3 = msg("s1"), msg("s2"), msg("s3")
CORRUPT = b"\xffnot a task message"


# --- matchers --------------------------------------------------------------------------------


class ExpiresAt:
    """An expiry at unix time ``at``: matches a read-back expiry within TTL_TOLERANCE."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, at: float) -> None:
        self._at = at

    @property
    def at(self) -> float:
        return self._at

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (int, float)) and abs(other - self.at) <= TTL_TOLERANCE

    def __repr__(self) -> str:
        return f"ExpiresAt({self.at!r})"


class ExpiresIn(ExpiresAt):
    """An expiry ``seconds`` after the wall clock: keys Redis expires with a relative TTL."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @property
    def at(self) -> float:
        return time.time() + self.seconds

    def __repr__(self) -> str:
        return f"ExpiresIn({self.seconds!r})"


class Where:
    """Matches any value for which ``predicate`` holds."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, predicate: Callable[[Any], bool], description: str) -> None:
        self.predicate = predicate
        self.description = description

    def __eq__(self, other: object) -> bool:
        return bool(self.predicate(other))

    def __repr__(self) -> str:
        return f"<{self.description}>"


def _corrupt_note(task_id: str) -> Where:
    def holds(msg: object) -> bool:
        # The snapshot decodes what it can; the placeholder decodes, its raw bytes would not.
        if isinstance(msg, bytes):
            msg = asynq_pb2.TaskMessage.FromString(msg)
        return getattr(msg, "id", None) == task_id and "corrupt" in getattr(msg, "error_msg", "")

    return Where(holds, f"a message of task {task_id} whose error says it was corrupt")


# --- state: what a database holds ------------------------------------------------------------


@attrs.frozen
class Key:
    """One Redis key as a snapshot reads it, or as a test seeds or expects it.

    ``value`` is a str (string), a list of str (list), a set of str (set), a dict of member to
    score (zset) or of field to value (hash). Task messages, server and worker states are
    decoded to :class:`TaskMessage`, :class:`ServerState` and :class:`WorkerState`;
    ``pending_since`` to an int. ``expires_at`` is None for a key without TTL.
    """

    type: str
    value: Any
    expires_at: Any = None


State = dict[str, Key]
UNCHANGED: State = {"<unchanged>": Key("marker", None)}
"""In a table's "after" column: the operation must leave the seeded state as it was."""


def string(value: Any, expires_at: Any = None) -> Key:
    return Key("string", value, expires_at)


def hash_(fields: Mapping[str, Any], expires_at: Any = None) -> Key:
    return Key("hash", dict(fields), expires_at)


def list_(items: Sequence[str]) -> Key:
    """A list, as LRANGE shows it (index 0 first)."""
    return Key("list", list(items))


def set_(members: Sequence[str]) -> Key:
    return Key("set", set(members))


def zset(scores: Mapping[str, float]) -> Key:
    return Key("zset", dict(scores))


def merge(*parts: State) -> State:
    """Combine states; a set, zset or hash named by several parts gets all their members."""
    out: State = {}
    for part in parts:
        for name, key in part.items():
            out[name] = _union(name, out[name], key) if name in out else key
    return out


def _union(name: str, a: Key, b: Key) -> Key:
    if a.type != b.type or a.type not in ("set", "zset", "hash") or a.expires_at or b.expires_at:
        raise ValueError(f"cannot merge two values of key {name}")
    if a.type == "set":
        return attrs.evolve(a, value=a.value | b.value)
    clash = [m for m in a.value.keys() & b.value.keys() if a.value[m] != b.value[m]]
    if clash:
        raise ValueError(f"conflicting members {clash} of key {name}")
    return attrs.evolve(a, value={**a.value, **b.value})


def _qkey(queue: str, suffix: str) -> str:
    return f"asynq:{{{queue}}}:{suffix}"


def task_key(queue: str, task_id: str) -> str:
    return _qkey(queue, f"t:{task_id}")


def _queue_of(msgs: Sequence[TaskMessage]) -> str:
    (queue,) = {m.queue for m in msgs}
    return queue


def _per_task(value: Any, task_id: str) -> Any:
    return value[task_id] if isinstance(value, Mapping) else value


def _task(m: TaskMessage, state: str, **fields: Any) -> State:
    """The task hash of ``m``; it holds ``unique_key`` when ``m`` was enqueued as unique."""
    stored = {"msg": m, "state": state, **fields}
    if m.unique_key:
        stored["unique_key"] = m.unique_key
    return {task_key(m.queue, m.id): hash_(stored)}


def queues(*names: str) -> State:
    """The set of every queue written to."""
    return {"asynq:queues": set_(names)}


def pending(*msgs: TaskMessage, since: int = NOW_NS) -> State:
    """Pending tasks of one queue, the next to be dequeued first."""
    q = _queue_of(msgs)
    return merge(
        {_qkey(q, "pending"): list_([m.id for m in reversed(msgs)])},
        *(_task(m, "pending", pending_since=since) for m in msgs),
    )


def active(
    *msgs: TaskMessage,
    token: str | None | Mapping[str, str | None] = TOKEN,
    lease_until: float | None | Mapping[str, float | None] = LEASE_UNTIL,
) -> State:
    """Active tasks of one queue, in the order they were dequeued.

    ``token`` and ``lease_until`` are one value for all, or a mapping by task ID; None means
    no lease token stored, or no lease at all (an orphan, as a crash can leave one).
    """
    q = _queue_of(msgs)
    state = {_qkey(q, "active"): list_([m.id for m in reversed(msgs)])}
    leases = {m.id: _per_task(lease_until, m.id) for m in msgs}
    leases = {task_id: until for task_id, until in leases.items() if until is not None}
    if leases:
        state[_qkey(q, "lease")] = zset(leases)
    for m in msgs:
        held = _per_task(token, m.id)
        state |= _task(m, "active", **({"lease_token": held} if held is not None else {}))
    return state


def _indexed(state: str, index: str) -> Callable[..., State]:
    def build(*entries: tuple[TaskMessage, float]) -> State:
        q = _queue_of([m for m, _ in entries])
        return merge(
            {_qkey(q, index): zset({m.id: score for m, score in entries})},
            *(_task(m, state) for m, _ in entries),
        )

    build.__doc__ = f"{state.capitalize()} tasks of one queue, as (message, score) pairs."
    return build


scheduled = _indexed("scheduled", "scheduled")
retrying = _indexed("retry", "retry")
archived = _indexed("archived", "archived")
completed = _indexed("completed", "completed")


def corrupt(queue: str, task_id: str, state: str, **fields: Any) -> State:
    """A task hash whose ``msg`` is not a TaskMessage."""
    return {task_key(queue, task_id): hash_({"msg": CORRUPT, "state": state, **fields})}


def paused(queue: str) -> State:
    return {_qkey(queue, "paused"): string(str(int(NOW)))}


def lock(m: TaskMessage, owner: str | None = None, ttl: float = UNIQUE_TTL) -> State:
    """The uniqueness lock of ``m``'s type and payload, held by ``owner`` (default: ``m``)."""
    return {m.unique_key: string(owner or m.id, ExpiresIn(ttl))}


def counters(
    queue: str = Q,
    *,
    processed: int = 0,
    failed: int = 0,
    total_processed: int | None = None,
    total_failed: int | None = None,
    day: str = DAY,
    expires_at: float = NOW + DAY_COUNTER_TTL,
) -> State:
    """Daily (expiring 90 days on) and lifetime counters; totals default to the daily counts."""
    state: State = {}
    for name, daily, total in (
        ("processed", processed, total_processed),
        ("failed", failed, total_failed),
    ):
        total = daily if total is None else total
        if daily:
            state[_qkey(queue, f"{name}:{day}")] = string(str(daily), ExpiresAt(expires_at))
        if total:
            state[_qkey(queue, name)] = string(str(total))
    return state


def _server_id(server: ServerState) -> str:
    return f"{{{server.host}:{server.pid}:{server.server_id}}}"


def server_state(
    server: ServerState, workers: Sequence[WorkerState], *, now: float = NOW, ttl: float = SERVER_TTL
) -> State:
    """A live server and its workers, as write_server_state records them at ``now``."""
    server_key = f"asynq:servers:{_server_id(server)}"
    workers_key = f"asynq:workers:{_server_id(server)}"
    state = {
        "asynq:servers": zset({server_key: now + ttl}),
        server_key: string(server, ExpiresIn(ttl)),
        "asynq:workers": zset({workers_key: now + ttl}),
    }
    if workers:
        state[workers_key] = hash_({w.task_id: w for w in workers}, ExpiresIn(ttl))
    return state


# --- reading and writing a database ----------------------------------------------------------


def _decode_str(raw: bytes) -> str | bytes:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _decode_task_field(name: str, raw: bytes) -> Any:
    if name == "msg":
        try:
            return codec.decode_task(raw)
        except codec.CorruptMessageError:
            return raw
    if name == "pending_since":
        return int(raw)
    return _decode_str(raw)


def _read(client: Any, name: str, kind: str) -> Any:
    if kind == "string":
        raw = client.get(name)
        return codec.decode_server(raw) if name.startswith("asynq:servers:") else _decode_str(raw)
    if kind == "hash":
        fields = {f.decode(): v for f, v in client.hgetall(name).items()}
        if name.startswith("asynq:workers:"):
            return {f: codec.decode_worker(v) for f, v in fields.items()}
        return {f: _decode_task_field(f, v) for f, v in fields.items()}
    if kind == "list":
        return [_decode_str(v) for v in client.lrange(name, 0, -1)]
    if kind == "set":
        return {_decode_str(v) for v in client.smembers(name)}
    if kind == "zset":
        return {_decode_str(m): s for m, s in client.zrange(name, 0, -1, withscores=True)}
    raise AssertionError(f"key {name} has unexpected type {kind}")


def snapshot(client: Any) -> State:
    """Every key of the database with its type, decoded contents and expiry."""
    state: State = {}
    for raw_name in client.scan_iter(count=1000):
        name = raw_name.decode()
        kind = client.type(name).decode()
        value = _read(client, name, kind)
        ttl_ms = client.pttl(name)
        state[name] = Key(kind, value, None if ttl_ms < 0 else time.time() + ttl_ms / 1000)
    return state


def _encode(value: Any) -> Any:
    if isinstance(value, TaskMessage):
        return codec.encode_task(value)
    if isinstance(value, ServerState):
        return codec.encode_server(value)
    if isinstance(value, WorkerState):
        return codec.encode_worker(value)
    return value if isinstance(value, (bytes, str)) else str(value)


def seed(client: Any, state: State) -> None:
    """Write ``state`` into the database, in one round trip."""
    pipe = client.pipeline(transaction=False)
    for name, key in state.items():
        v = key.value
        if key.type == "string":
            pipe.set(name, _encode(v))
        elif key.type == "hash":
            pipe.hset(name, mapping={f: _encode(x) for f, x in v.items()})
        elif key.type == "list":
            pipe.rpush(name, *v)
        elif key.type == "set":
            pipe.sadd(name, *v)
        elif key.type == "zset":
            pipe.zadd(name, v)
        else:
            raise ValueError(f"cannot seed key {name} of type {key.type}")
        if key.expires_at is not None:
            at = key.expires_at.at if isinstance(key.expires_at, ExpiresAt) else key.expires_at
            pipe.pexpireat(name, int(at * 1000))
    pipe.execute()


def assert_state(client: Any, expected: State) -> None:
    """Fail unless the database holds exactly ``expected``: no key more, none less."""
    actual = snapshot(client)
    problems = [f"missing key {n}: {expected[n]!r}" for n in sorted(expected.keys() - actual.keys())]
    problems += [f"unexpected key {n}: {actual[n]!r}" for n in sorted(actual.keys() - expected.keys())]
    problems += [
        f"key {n}:\n    actual:   {actual[n]!r}\n    expected: {expected[n]!r}"
        for n in sorted(actual.keys() & expected.keys())
        if actual[n] != expected[n]
    ]
    if problems:
        raise AssertionError("database state differs:\n  " + "\n  ".join(problems))


def outcome(call: Callable[[], Any]) -> Any:
    """What ``call`` returns, or the class of the asynq error it raises."""
    try:
        return call()
    except AsynqError as exc:
        return type(exc)


def _as_outcomes(results: Sequence[Any]) -> list[Any]:
    return [type(r) if isinstance(r, Exception) else r for r in results]


# --- behaviour through the protocol alone ----------------------------------------------------

# Ways a worker ends a lease; each returns whether the broker accepted it.
_FINISHERS: dict[str, Callable[[Broker, Lease], bool]] = {
    "succeed": lambda b, held: b.succeed(held, now=NOW),
    "requeue": lambda b, held: b.requeue(held, now=NOW),
    "retry": lambda b, held: b.retry(
        held, failed(held.message), retry_at=NOW + 60, is_failure=True, now=NOW
    ),
    "archive": lambda b, held: b.archive(held, failed(held.message), now=NOW),
}


def _dequeued(broker: Broker, m: TaskMessage) -> Lease:
    broker.enqueue(request(m), now=NOW)
    (held,) = broker.dequeue([m.queue], 1, now=NOW, lease_until=LEASE_UNTIL)
    return held


def _scheduled(broker: Broker, m: TaskMessage) -> TaskMessage:
    broker.enqueue(request(m, at=NOW + 60), now=NOW)
    return m


# Ways new work reaches a queue: a setup (run before subscribing, its result handed on) and
# the action that must wake idle workers.
_NEW_WORK: dict[str, tuple[Callable[[Broker, TaskMessage], Any], Callable[[Broker, Any], Any]]] = {
    "enqueue": (lambda b, m: m, lambda b, m: b.enqueue(request(m), now=NOW)),
    "forward": (_scheduled, lambda b, m: b.forward([m.queue], now=NOW + 60)),
    "requeue": (_dequeued, lambda b, held: b.requeue(held, now=NOW)),
}


class BrokerConformance:
    """Behaviour every broker must show, checked through the protocol alone.

    Subclass it in a test module named ``Test...`` and provide a ``broker`` fixture: a
    broker holding no tasks.
    """

    def dequeue_one(self, broker: Broker, queue: str = Q, now: float = NOW) -> Lease | None:
        leases = broker.dequeue([queue], 1, now=now, lease_until=now + 30)
        return leases[0] if leases else None

    def test_ping(self, broker: Broker) -> None:
        assert broker.ping() is None

    def test_round_trip_keeps_every_field(self, broker: Broker) -> None:
        assert broker.enqueue(request(FULL), now=NOW) == TaskState.PENDING
        leases = broker.dequeue([Q], 10, now=NOW, lease_until=LEASE_UNTIL)
        assert [(held.message, held.expires_at) for held in leases] == [(FULL, LEASE_UNTIL)]
        assert broker.dequeue([Q], 10, now=NOW, lease_until=LEASE_UNTIL) == []

    def test_dequeue_oldest_first_in_queue_order(self, broker: Broker) -> None:
        for m in (T1, T2, C1, T3):
            broker.enqueue(request(m), now=NOW)
        leases = broker.dequeue([CRITICAL, Q], 3, now=NOW, lease_until=LEASE_UNTIL)
        assert [held.message.id for held in leases] == ["c1", "t1", "t2"]
        rest = broker.dequeue([Q], 3, now=NOW, lease_until=LEASE_UNTIL)
        assert [held.message.id for held in rest] == ["t3"]

    def test_scheduled_task_waits_until_due(self, broker: Broker) -> None:
        assert broker.enqueue(request(T1, at=NOW + 60), now=NOW) == TaskState.SCHEDULED
        assert self.dequeue_one(broker) is None
        assert broker.forward([Q], now=NOW + 59.9) == 0
        assert self.dequeue_one(broker, now=NOW + 59.9) is None
        assert broker.forward([Q], now=NOW + 60) == 1
        held = self.dequeue_one(broker, now=NOW + 60)
        assert held is not None and held.message == T1

    def test_retried_task_comes_back_when_due(self, broker: Broker) -> None:
        broker.enqueue(request(T1), now=NOW)
        held = self.dequeue_one(broker)
        assert held is not None
        assert broker.retry(held, T1_FAILED, retry_at=NOW + 60, is_failure=True, now=NOW)
        assert broker.forward([Q], now=NOW + 59) == 0
        assert self.dequeue_one(broker, now=NOW + 59) is None
        assert broker.forward([Q], now=NOW + 60) == 1
        again = self.dequeue_one(broker, now=NOW + 60)
        assert again is not None and again.message == T1_FAILED

    def test_archived_task_is_not_redelivered(self, broker: Broker) -> None:
        broker.enqueue(request(T1), now=NOW)
        held = self.dequeue_one(broker)
        assert held is not None and broker.archive(held, T1_FAILED, now=NOW)
        assert broker.forward([Q], now=NOW + 10 * DAY_COUNTER_TTL) == 0
        assert self.dequeue_one(broker, now=NOW + 10 * DAY_COUNTER_TTL) is None

    def test_requeued_task_is_next(self, broker: Broker) -> None:
        for m in (T1, T2):
            broker.enqueue(request(m), now=NOW)
        held = self.dequeue_one(broker)
        assert held is not None and broker.requeue(held, now=NOW)
        again = self.dequeue_one(broker)
        assert again is not None and again.message == T1

    @pytest.mark.parametrize("finish", _FINISHERS)
    def test_ended_lease_refuses_every_change(self, broker: Broker, finish: str) -> None:
        broker.enqueue(request(T1), now=NOW)
        held = self.dequeue_one(broker)
        assert held is not None and _FINISHERS[finish](broker, held)
        refused = {name: end(broker, held) for name, end in _FINISHERS.items()}
        assert refused == dict.fromkeys(_FINISHERS, False)
        assert broker.extend_leases([held], until=NOW + 60) == [held]

    def test_lease_fencing(self, broker: Broker) -> None:
        """A worker whose lease expired and was recovered cannot finish the task any more."""
        broker.enqueue(request(T1), now=NOW)
        a = self.dequeue_one(broker)
        assert a is not None
        later = RECOVERED_AT
        assert broker.expired_leases([Q], now=NOW + 29) == []
        (expired,) = broker.expired_leases([Q], now=later)
        assert (expired.message, expired.token) == (T1, a.token)
        recovered = failed(T1, "lease expired", at=later)
        assert broker.retry(
            expired, recovered, retry_at=later, is_failure=True, now=later, only_if_expired=True
        )
        assert broker.forward([Q], now=later) == 1
        b = self.dequeue_one(broker, now=later)
        assert b is not None and b.message == recovered and b.token != a.token
        assert broker.extend_leases([a], until=later + 30) == [a]
        assert not broker.succeed(a, now=later)
        assert broker.succeed(b, now=later)

    def test_extended_lease_survives_the_recoverer(self, broker: Broker) -> None:
        broker.enqueue(request(T1), now=NOW)
        held = self.dequeue_one(broker)
        assert held is not None
        later = NOW + 31
        (expired,) = broker.expired_leases([Q], now=later)
        # The worker extends its lease after the recoverer listed it, before it acts.
        assert broker.extend_leases([held], until=later + 30) == []
        assert not broker.retry(
            expired, T1_FAILED, retry_at=later, is_failure=True, now=later, only_if_expired=True
        )
        assert not broker.archive(expired, T1_FAILED, now=later, only_if_expired=True)
        assert broker.expired_leases([Q], now=later + 29) == []
        assert broker.succeed(held, now=later)

    def test_extend_leases_reports_only_lost_ones(self, broker: Broker) -> None:
        for m in (T1, T2, C1):
            broker.enqueue(request(m), now=NOW)
        held = broker.dequeue([Q, CRITICAL], 3, now=NOW, lease_until=LEASE_UNTIL)
        t1, t2, c1 = held
        assert broker.succeed(t2, now=NOW)
        assert broker.extend_leases(held, until=NOW + 60) == [t2]
        assert broker.expired_leases([Q, CRITICAL], now=NOW + 59) == []
        assert {x.message.id for x in broker.expired_leases([Q, CRITICAL], now=NOW + 60)} == {"t1", "c1"}
        assert broker.extend_leases([], until=NOW + 60) == []

    def test_unique_lock_until_success(self, broker: Broker) -> None:
        assert broker.enqueue(request(U1), now=NOW) == TaskState.PENDING
        with pytest.raises(DuplicateTaskError):
            broker.enqueue(request(U0), now=NOW)
        held = self.dequeue_one(broker)
        assert held is not None and broker.succeed(held, now=NOW)
        assert broker.enqueue(request(U0), now=NOW) == TaskState.PENDING

    def test_task_id_conflict(self, broker: Broker) -> None:
        broker.enqueue(request(T1), now=NOW)
        with pytest.raises(TaskIDConflictError) as raised:
            broker.enqueue(request(T1_OTHER), now=NOW)
        assert (raised.value.queue, raised.value.task_id) == (Q, "t1")
        assert broker.enqueue(request(T1), now=NOW) == TaskState.PENDING  # a retried call
        assert [x.message for x in broker.dequeue([Q], 5, now=NOW, lease_until=LEASE_UNTIL)] == [T1]

    def test_enqueue_many_reports_each_outcome(self, broker: Broker) -> None:
        broker.enqueue(request(T1), now=NOW)
        results = broker.enqueue_many(
            [request(T2), request(T3, at=NOW + 60), request(T1_OTHER), request(U1), request(U0)],
            now=NOW,
        )
        assert _as_outcomes(results) == [
            TaskState.PENDING,
            TaskState.SCHEDULED,
            TaskIDConflictError,
            TaskState.PENDING,
            DuplicateTaskError,
        ]
        assert broker.enqueue_many([], now=NOW) == []

    def test_a_large_enqueue_many_across_queues_keeps_every_outcome_in_order(self, broker: Broker) -> None:
        # Enough tasks for a broker to split its work into several calls per queue.
        broker.enqueue(request(T1), now=NOW)
        mine = [msg(f"m{i}", CRITICAL if i % 3 == 0 else Q) for i in range(450)]
        requests = [request(m) for m in mine]
        requests[400] = request(T1_OTHER)  # late in the batch: its ID is taken
        requests[401] = request(T1)  # the same message again: a retried call
        results = broker.enqueue_many(requests, now=NOW)
        want: list[Any] = [TaskState.PENDING] * 450
        want[400] = TaskIDConflictError
        assert _as_outcomes(results) == want
        stored = {x.message.id for x in broker.dequeue([Q, CRITICAL], 1000, now=NOW, lease_until=LEASE_UNTIL)}
        assert stored == {m.id for i, m in enumerate(mine) if i not in (400, 401)} | {"t1"}

    def test_completed_task_deleted_after_retention(self, broker: Broker) -> None:
        broker.enqueue(request(R1), now=NOW)
        held = self.dequeue_one(broker)
        assert held is not None and broker.succeed(held, now=NOW)
        assert broker.delete_expired_completed([Q], now=NOW + 599) == 0
        assert broker.delete_expired_completed([Q], now=NOW + 600) == 1
        assert broker.delete_expired_completed([Q], now=NOW + 600) == 0

    def test_reconcile_leaves_leased_tasks_alone(self, broker: Broker) -> None:
        broker.enqueue(request(T1), now=NOW)
        assert self.dequeue_one(broker) is not None
        assert broker.reconcile_active([Q], now=NOW) == 0
        assert broker.expired_leases([Q], now=NOW) == []

    def test_cancellation_notice(self, broker: Broker) -> None:
        subscription = broker.subscribe()
        try:
            broker.publish_cancellation("t1")
            assert subscription.get(timeout=5) == Notice(NoticeKind.CANCEL, "t1")
            assert subscription.get(timeout=0.05) is None
        finally:
            subscription.close()

    @pytest.mark.parametrize("how", _NEW_WORK)
    def test_new_work_wakes_workers(self, broker: Broker, how: str) -> None:
        setup, action = _NEW_WORK[how]
        prepared = setup(broker, C1)
        subscription = broker.subscribe()
        try:
            action(broker, prepared)
            assert subscription.get(timeout=5) == Notice(NoticeKind.WAKEUP, CRITICAL)
        finally:
            subscription.close()


# --- the exact Redis state of every operation ------------------------------------------------
# One table per operation. A row: the state seeded, the operation's input, what it returns (or
# the asynq error it raises), and the whole database afterwards (UNCHANGED: exactly as seeded).

ENQUEUE_CASES = [
    pytest.param({}, request(T1), TaskState.PENDING, merge(queues(Q), pending(T1)), id="pending"),
    pytest.param(
        {}, request(T1, at=NOW + 60), TaskState.SCHEDULED,
        merge(queues(Q), scheduled((T1, NOW + 60))), id="scheduled",
    ),
    pytest.param(
        {}, request(T1, at=NOW + 0.25), TaskState.SCHEDULED,
        merge(queues(Q), scheduled((T1, NOW + 0.25))), id="sub-second-schedule",
    ),
    pytest.param({}, request(T1, at=NOW), TaskState.PENDING, merge(queues(Q), pending(T1)), id="due-now"),
    pytest.param(
        {}, request(T1, at=NOW - 60), TaskState.PENDING, merge(queues(Q), pending(T1)), id="past-due"
    ),
    pytest.param(
        merge(queues(Q), pending(T1)), request(T2), TaskState.PENDING,
        merge(queues(Q), pending(T1, T2)), id="behind-older-tasks",
    ),
    pytest.param(
        merge(queues(Q), pending(T1)), request(C1), TaskState.PENDING,
        merge(queues(Q, CRITICAL), pending(T1), pending(C1)), id="new-queue-registered",
    ),
    pytest.param({}, request(U1), TaskState.PENDING, merge(queues(Q), pending(U1), lock(U1)), id="unique"),
    pytest.param(
        {}, request(U1, at=NOW + 60), TaskState.SCHEDULED,
        merge(queues(Q), scheduled((U1, NOW + 60)), lock(U1)), id="unique-scheduled",
    ),
    pytest.param(
        merge(queues(Q), pending(U0), lock(U0)), request(U1), DuplicateTaskError, UNCHANGED,
        id="unique-duplicate",
    ),
    pytest.param(
        merge(queues(Q), pending(U0)), request(U1), TaskState.PENDING,
        merge(queues(Q), pending(U0, U1), lock(U1)), id="unique-lock-expired",
    ),
    pytest.param(
        merge(queues(Q), pending(T1)), request(T1_OTHER), TaskIDConflictError, UNCHANGED,
        id="id-conflict-pending",
    ),
    pytest.param(
        merge(queues(Q), archived((T1, NOW - 60))), request(T1_OTHER), TaskIDConflictError,
        UNCHANGED, id="id-conflict-archived",
    ),
    pytest.param(
        merge(queues(Q), pending(T1)), request(T1), TaskState.PENDING, UNCHANGED,
        id="identical-again-pending",
    ),
    pytest.param(
        merge(queues(Q), scheduled((T1, NOW + 60))), request(T1, at=NOW + 60), TaskState.SCHEDULED,
        UNCHANGED, id="identical-again-scheduled",
    ),
]

_CORRUPT_PENDING = {
    **merge(queues(Q), pending(T1), corrupt(Q, "bad", "pending", pending_since=NOW_NS)),
    _qkey(Q, "pending"): list_(["t1", "bad"]),
}
DEQUEUE_CASES = [
    pytest.param(
        merge(queues(Q), pending(T1, T2, T3)), [Q], 1, [T1],
        merge(queues(Q), pending(T2, T3), active(T1, token=ANY)), id="oldest-first",
    ),
    pytest.param(
        merge(queues(Q), pending(T1, T2, T3)), [Q], 2, [T1, T2],
        merge(queues(Q), pending(T3), active(T1, T2, token=ANY)), id="count-limit",
    ),
    pytest.param(
        merge(queues(Q), pending(T1, T2)), [Q], 5, [T1, T2],
        merge(queues(Q), active(T1, T2, token=ANY)), id="fewer-than-count",
    ),
    pytest.param(
        merge(queues(Q, CRITICAL), pending(T1, T2), pending(C1)), [CRITICAL, Q], 2, [C1, T1],
        merge(queues(Q, CRITICAL), pending(T2), active(C1, token=ANY), active(T1, token=ANY)),
        id="queues-in-order",
    ),
    pytest.param(
        merge(queues(Q, CRITICAL), pending(T1), pending(C1), paused(CRITICAL)), [CRITICAL, Q], 2, [T1],
        merge(queues(Q, CRITICAL), pending(C1), paused(CRITICAL), active(T1, token=ANY)),
        id="paused-queue-skipped",
    ),
    pytest.param(queues(Q), [Q], 1, [], UNCHANGED, id="empty"),
    pytest.param(
        _CORRUPT_PENDING, [Q], 2, [T1],
        merge(
            queues(Q),
            active(T1, token=ANY),
            {_qkey(Q, "archived"): zset({"bad": NOW})},
            {task_key(Q, "bad"): hash_({"msg": _corrupt_note("bad"), "state": "archived"})},
            counters(processed=1, failed=1),
        ),
        id="corrupt-message-archived",
    ),
]

_TAKEN_OVER = merge(queues(Q), active(T1, token=OTHER_TOKEN))
"""T1 leased by another worker since (its lease expired and was recovered)."""
_AN_HOUR_AGO_TTL = NOW - 3600 + DAY_COUNTER_TTL
"""The expiry of a daily counter started an hour before NOW."""
SUCCEED_CASES = [
    pytest.param(
        merge(queues(Q), active(T1)), lease(T1), True, merge(queues(Q), counters(processed=1)),
        id="deleted",
    ),
    pytest.param(
        merge(queues(Q), active(T1, T2)), lease(T1), True,
        merge(queues(Q), active(T2), counters(processed=1)), id="other-tasks-untouched",
    ),
    pytest.param(
        merge(queues(Q), active(R1)), lease(R1), True,
        merge(
            queues(Q),
            completed((attrs.evolve(R1, completed_at=int(NOW)), NOW + R1.retention)),
            counters(processed=1),
        ),
        id="kept-as-completed",
    ),
    pytest.param(
        merge(queues(Q), active(U1), lock(U1)), lease(U1), True,
        merge(queues(Q), counters(processed=1)), id="unique-lock-released",
    ),
    pytest.param(
        merge(queues(Q), active(U1), lock(U1, owner="u0")), lease(U1), True,
        merge(queues(Q), lock(U1, owner="u0"), counters(processed=1)), id="others-lock-kept",
    ),
    pytest.param(
        merge(queues(Q), active(T1), counters(processed=2, total_processed=7, expires_at=_AN_HOUR_AGO_TTL)),
        lease(T1), True,
        merge(queues(Q), counters(processed=3, total_processed=8, expires_at=_AN_HOUR_AGO_TTL)),
        id="counters-add-up-daily-expiry-kept",
    ),
    pytest.param(_TAKEN_OVER, lease(T1), False, UNCHANGED, id="lease-taken-over"),
    pytest.param(
        merge(queues(Q), retrying((T1, NOW + 60))), lease(T1), False, UNCHANGED, id="lease-recovered"
    ),
    pytest.param(queues(Q), lease(T1), False, UNCHANGED, id="task-gone"),
]

# Settle-and-refill: (before, leases settled, queues, count, settled?, leased, after).
SUCCEED_AND_DEQUEUE_CASES = [
    pytest.param(
        merge(queues(Q), active(T1), pending(T2, T3)), [lease(T1)], [Q], 2, [True], [T2, T3],
        merge(queues(Q), active(T2, T3, token=ANY), counters(processed=1)), id="settle-then-refill",
    ),
    pytest.param(
        merge(queues(Q), active(T1, R1), pending(T2)), [lease(R1), lease(T1)], [Q], 2, [True, True], [T2],
        merge(
            queues(Q),
            active(T2, token=ANY),
            completed((attrs.evolve(R1, completed_at=int(NOW)), NOW + R1.retention)),
            counters(processed=2),
        ),
        id="batch-with-retention",
    ),
    pytest.param(
        merge(_TAKEN_OVER, pending(T2)), [lease(T1)], [Q], 1, [False], [T2],
        merge(queues(Q), active(T1, T2, token={"t1": OTHER_TOKEN, "t2": ANY})),
        id="lease-lost-still-refills",
    ),
    pytest.param(
        merge(queues(Q, CRITICAL), active(C1), active(T1), pending(T2)), [lease(C1), lease(T1)], [Q], 2,
        [True, True], [T2],
        merge(queues(Q, CRITICAL), active(T2, token=ANY), counters(processed=1), counters(CRITICAL, processed=1)),
        id="leases-of-other-queues",
    ),
    pytest.param(
        merge(queues(Q, CRITICAL), active(T1), pending(C1)), [lease(T1)], [Q, CRITICAL], 2, [True], [C1],
        merge(queues(Q, CRITICAL), active(C1, token=ANY), counters(processed=1)),
        id="next-queue-when-short",
    ),
    pytest.param(
        merge(queues(Q), active(T1), pending(T2), paused(Q)), [lease(T1)], [Q], 1, [True], [],
        merge(queues(Q), pending(T2), paused(Q), counters(processed=1)), id="paused-settles-only",
    ),
]

REQUEUE_CASES = [
    pytest.param(
        merge(queues(Q), active(T1), pending(T2, T3)), lease(T1), True,
        merge(queues(Q), pending(T1, T2, T3)), id="head-of-pending",
    ),
    pytest.param(_TAKEN_OVER, lease(T1), False, UNCHANGED, id="lease-taken-over"),
]

_RETRIED = merge(queues(Q), retrying((T1_FAILED, NOW + 60)))
RETRY_CASES = [
    pytest.param(
        merge(queues(Q), active(T1)), False, True, True, merge(_RETRIED, counters(processed=1, failed=1)),
        id="failure-counted",
    ),
    pytest.param(merge(queues(Q), active(T1)), False, False, True, _RETRIED, id="not-a-failure"),
    pytest.param(
        merge(queues(Q), active(T1, lease_until=NOW - 1)), True, True, True,
        merge(_RETRIED, counters(processed=1, failed=1)), id="recoverer-lease-expired",
    ),
    pytest.param(
        merge(queues(Q), active(T1, lease_until=NOW)), True, False, True, _RETRIED,
        id="recoverer-lease-expires-now",
    ),
    pytest.param(
        merge(queues(Q), active(T1)), True, True, False, UNCHANGED, id="recoverer-lease-extended",
    ),
    pytest.param(
        _TAKEN_OVER, False, True, False, UNCHANGED, id="lease-taken-over",
    ),
]

_90_DAYS_AGO = NOW - 90 * 24 * 3600
_ARCHIVED_COUNTED = merge(queues(Q), counters(processed=1, failed=1))
ARCHIVE_CASES = [
    pytest.param(
        {}, merge(queues(Q), active(T1)), False, True,
        merge(_ARCHIVED_COUNTED, archived((T1_FAILED, NOW))), id="archived",
    ),
    pytest.param(
        {}, merge(queues(Q), active(T1), archived((A1, _90_DAYS_AGO - 1), (A2, _90_DAYS_AGO + 1))),
        False, True, merge(_ARCHIVED_COUNTED, archived((A2, _90_DAYS_AGO + 1), (T1_FAILED, NOW))),
        id="kept-90-days-by-default",
    ),
    pytest.param(
        {"archive_max_age": 3600}, merge(queues(Q), active(T1), archived((A1, NOW - 3601), (A2, NOW - 3599))),
        False, True, merge(_ARCHIVED_COUNTED, archived((A2, NOW - 3599), (T1_FAILED, NOW))),
        id="trimmed-by-age",
    ),
    pytest.param(
        {"archive_max_size": 2}, merge(queues(Q), active(T1), archived((A1, NOW - 30), (A2, NOW - 20))),
        False, True, merge(_ARCHIVED_COUNTED, archived((A2, NOW - 20), (T1_FAILED, NOW))),
        id="trimmed-by-size",
    ),
    pytest.param(
        {}, merge(queues(Q), active(T1, lease_until=NOW - 1)), True, True,
        merge(_ARCHIVED_COUNTED, archived((T1_FAILED, NOW))), id="recoverer-lease-expired",
    ),
    pytest.param({}, merge(queues(Q), active(T1)), True, False, UNCHANGED, id="recoverer-lease-extended"),
    pytest.param(
        {}, _TAKEN_OVER, False, False, UNCHANGED, id="lease-taken-over",
    ),
]

EXTEND_CASES = [
    pytest.param(
        merge(queues(Q), active(T1)), [lease(T1)], [],
        merge(queues(Q), active(T1, lease_until=NOW + 60)), id="extended",
    ),
    pytest.param(
        merge(queues(Q), active(T1, lease_until=NOW - 1)), [lease(T1)], [],
        merge(queues(Q), active(T1, lease_until=NOW + 60)), id="expired-not-yet-recovered",
    ),
    pytest.param(
        _TAKEN_OVER, [lease(T1)], [lease(T1)], UNCHANGED,
        id="taken-over-is-lost",
    ),
    pytest.param(
        merge(queues(Q), retrying((T1, NOW + 60))), [lease(T1)], [lease(T1)], UNCHANGED,
        id="recovered-is-lost-not-revived",
    ),
    pytest.param(queues(Q), [lease(T1)], [lease(T1)], UNCHANGED, id="deleted-is-lost"),
    pytest.param(
        merge(queues(Q, CRITICAL), active(T1, T2, token={"t1": TOKEN, "t2": OTHER_TOKEN}), active(C1)),
        [lease(T1), lease(T2), lease(C1)], [lease(T2)],
        merge(
            queues(Q, CRITICAL),
            active(
                T1, T2, token={"t1": TOKEN, "t2": OTHER_TOKEN},
                lease_until={"t1": NOW + 60, "t2": LEASE_UNTIL},
            ),
            active(C1, lease_until=NOW + 60),
        ),
        id="several-queues",
    ),
]

_DUE = scheduled((S1, NOW - 1), (S2, NOW), (S3, NOW + 1))
FORWARD_CASES = [
    pytest.param(
        merge(queues(Q), pending(T1), _DUE), [Q], 2,
        merge(queues(Q), pending(T1, S1, S2), scheduled((S3, NOW + 1))), id="due-scheduled",
    ),
    pytest.param(
        merge(queues(Q), retrying((T1, NOW - 5), (T2, NOW + 10))), [Q], 1,
        merge(queues(Q), pending(T1), retrying((T2, NOW + 10))), id="due-retry",
    ),
    pytest.param(merge(queues(Q), scheduled((S3, NOW + 1))), [Q], 0, UNCHANGED, id="nothing-due"),
    pytest.param(
        merge(
            queues(Q, CRITICAL, LOW),
            scheduled((S1, NOW - 1)), retrying((C1, NOW - 1)), scheduled((L1, NOW - 1)),
        ),
        [Q, CRITICAL], 2,
        merge(queues(Q, CRITICAL, LOW), pending(S1), pending(C1), scheduled((L1, NOW - 1))),
        id="only-given-queues",
    ),
]

EXPIRED_LEASE_CASES = [
    pytest.param(
        merge(queues(Q), active(T1, T2, T3, lease_until={"t1": NOW - 1, "t2": NOW, "t3": NOW + 1})),
        [Q], [(T1, TOKEN), (T2, TOKEN)], UNCHANGED, id="expired-by-now",
    ),
    pytest.param(
        merge(
            queues(Q, CRITICAL),
            active(T1, lease_until=NOW - 1), active(C1, token=OTHER_TOKEN, lease_until=NOW - 1),
        ),
        [Q, CRITICAL], [(T1, TOKEN), (C1, OTHER_TOKEN)], UNCHANGED, id="several-queues",
    ),
    pytest.param(merge(queues(Q), active(T1)), [Q], [], UNCHANGED, id="none-expired"),
    pytest.param(
        merge(
            queues(Q),
            {_qkey(Q, "active"): list_(["bad"]), _qkey(Q, "lease"): zset({"bad": NOW - 1})},
            corrupt(Q, "bad", "active", lease_token=TOKEN),
        ),
        [Q], [],
        merge(
            queues(Q),
            {_qkey(Q, "archived"): zset({"bad": NOW})},
            {task_key(Q, "bad"): hash_({"msg": _corrupt_note("bad"), "state": "archived"})},
            counters(processed=1, failed=1),
        ),
        id="corrupt-message-archived",
    ),
]

_ORPHAN = {"t1": TOKEN, "t2": None}
RECONCILE_CASES = [
    pytest.param(
        merge(queues(Q), active(T1, T2, token=_ORPHAN, lease_until={"t1": LEASE_UNTIL, "t2": None})), 1,
        merge(queues(Q), active(T1, T2, token=_ORPHAN, lease_until={"t1": LEASE_UNTIL, "t2": NOW})),
        id="orphan-gets-expired-lease",
    ),
    pytest.param(merge(queues(Q), active(T1, T2)), 0, UNCHANGED, id="leased-untouched"),
]

DELETE_COMPLETED_CASES = [
    pytest.param(
        merge(queues(Q), completed((T1, NOW - 1), (T2, NOW), (T3, NOW + 1))), 2,
        merge(queues(Q), completed((T3, NOW + 1))), id="expired-deleted",
    ),
    pytest.param(merge(queues(Q), completed((T3, NOW + 1))), 0, UNCHANGED, id="none-expired"),
]

SERVER = ServerState(
    host="worker-1", pid=4242, server_id="0f1e2d3c", concurrency=10,
    queues={Q: 3, CRITICAL: 6}, strict_priority=False, status="active",
    started_at=NOW - 3600, active_worker_count=2,
)
OTHER_SERVER = attrs.evolve(SERVER, host="worker-2", server_id="4b5a6978")


def _worker(server: ServerState, m: TaskMessage) -> WorkerState:
    return WorkerState(
        host=server.host, pid=server.pid, server_id=server.server_id, task_id=m.id,
        task_type=m.type, task_payload=m.payload, queue=m.queue,
        started_at=NOW - 5, deadline=NOW + 1795,
    )


W1, W2, W3 = _worker(SERVER, T1), _worker(SERVER, C1), _worker(OTHER_SERVER, T2)
WRITE_SERVER_CASES = [
    pytest.param({}, SERVER, [W1, W2], server_state(SERVER, [W1, W2]), id="fresh"),
    pytest.param(
        server_state(SERVER, [W1, W2], now=NOW - 5), attrs.evolve(SERVER, active_worker_count=1), [W2],
        server_state(attrs.evolve(SERVER, active_worker_count=1), [W2]), id="replaces-previous",
    ),
    pytest.param(
        server_state(SERVER, [W1], now=NOW - 5), attrs.evolve(SERVER, active_worker_count=0), [],
        server_state(attrs.evolve(SERVER, active_worker_count=0), []), id="no-workers",
    ),
    pytest.param(
        server_state(OTHER_SERVER, [W3]), SERVER, [W1],
        merge(server_state(OTHER_SERVER, [W3]), server_state(SERVER, [W1])), id="other-servers-kept",
    ),
]

CLEAR_SERVER_CASES = [
    pytest.param(
        merge(server_state(SERVER, [W1, W2]), server_state(OTHER_SERVER, [W3])),
        server_state(OTHER_SERVER, [W3]), id="only-this-server",
    ),
    pytest.param({}, {}, id="nothing-recorded"),
]


class RedisBrokerConformance(BrokerConformance):
    """:class:`BrokerConformance`, plus the exact Redis state every operation leaves.

    Provide ``broker`` (on an empty database) and ``redis``: a redis-py client on the same
    database, with bytes replies. Archive limit cases build a broker through ``make_broker``;
    override it for a broker that is not a :class:`~asynq.brokers.redis.RedisBroker`.
    """

    @pytest.fixture
    def make_broker(self, redis: Any) -> Callable[..., Broker]:
        """Build a broker with non-default options on the ``redis`` database."""
        from asynq.brokers.redis.broker import RedisBroker

        return lambda **options: RedisBroker(redis, address="conformance", **options)

    def check(
        self, redis: Any, before: State, act: Callable[[], Any], want: Any, after: State,
    ) -> None:
        """Seed ``before``, run ``act``, expect ``want`` (or that error) and exactly ``after``."""
        seed(redis, before)
        assert outcome(act) == want
        assert_state(redis, before if after is UNCHANGED else after)

    @pytest.mark.parametrize("before, req, want, after", ENQUEUE_CASES)
    def test_enqueue(
        self, broker: Broker, redis: Any, before: State, req: EnqueueRequest, want: Any, after: State,
    ) -> None:
        self.check(redis, before, lambda: broker.enqueue(req, now=NOW), want, after)

    def test_enqueue_many(self, broker: Broker, redis: Any) -> None:
        before = merge(queues(Q), pending(T1), lock(U0))
        requests = [request(T2), request(C1, at=NOW + 60), request(U1), request(T1_OTHER), request(T1)]
        want = [
            TaskState.PENDING, TaskState.SCHEDULED, DuplicateTaskError, TaskIDConflictError, TaskState.PENDING
        ]
        after = merge(queues(Q, CRITICAL), pending(T1, T2), scheduled((C1, NOW + 60)), lock(U0))
        self.check(redis, before, lambda: _as_outcomes(broker.enqueue_many(requests, now=NOW)), want, after)

    def test_duplicate_names_the_lock(self, broker: Broker, redis: Any) -> None:
        seed(redis, lock(U0))
        with pytest.raises(DuplicateTaskError) as raised:
            broker.enqueue(request(U1), now=NOW)
        assert (raised.value.queue, raised.value.unique_key) == (Q, U1.unique_key)

    @pytest.mark.parametrize("before, names, count, want, after", DEQUEUE_CASES)
    def test_dequeue(
        self, broker: Broker, redis: Any, before: State, names: list[str], count: int,
        want: list[TaskMessage], after: State,
    ) -> None:
        leases: list[Lease] = []

        def act() -> list[TaskMessage]:
            leases.extend(broker.dequeue(names, count, now=NOW, lease_until=LEASE_UNTIL))
            return [held.message for held in leases]

        self.check(redis, before, act, want, after)
        for held in leases:
            assert held.expires_at == LEASE_UNTIL
            stored = redis.hget(task_key(held.message.queue, held.message.id), "lease_token")
            assert stored.decode() == held.token

    @pytest.mark.parametrize("before, held, want, after", SUCCEED_CASES)
    def test_succeed(
        self, broker: Broker, redis: Any, before: State, held: Lease, want: bool, after: State,
    ) -> None:
        self.check(redis, before, lambda: broker.succeed(held, now=NOW), want, after)

    @pytest.mark.parametrize("before, held, names, count, settled, leased, after", SUCCEED_AND_DEQUEUE_CASES)
    def test_succeed_and_dequeue(
        self, broker: Broker, redis: Any, before: State, held: list[Lease], names: list[str], count: int,
        settled: list[bool], leased: list[TaskMessage], after: State,
    ) -> None:
        def act() -> tuple[list[bool], list[TaskMessage]]:
            done, got = broker.succeed_and_dequeue(held, names, count, now=NOW, lease_until=LEASE_UNTIL)
            return done, [g.message for g in got]

        self.check(redis, before, act, (settled, leased), after)

    @pytest.mark.parametrize("before, held, want, after", REQUEUE_CASES)
    def test_requeue(
        self, broker: Broker, redis: Any, before: State, held: Lease, want: bool, after: State,
    ) -> None:
        self.check(redis, before, lambda: broker.requeue(held, now=NOW), want, after)

    @pytest.mark.parametrize("before, only_if_expired, is_failure, want, after", RETRY_CASES)
    def test_retry(
        self, broker: Broker, redis: Any, before: State, only_if_expired: bool, is_failure: bool,
        want: bool, after: State,
    ) -> None:
        def act() -> bool:
            return broker.retry(
                lease(T1), T1_FAILED, retry_at=NOW + 60, is_failure=is_failure, now=NOW,
                only_if_expired=only_if_expired,
            )

        self.check(redis, before, act, want, after)

    @pytest.mark.parametrize("options, before, only_if_expired, want, after", ARCHIVE_CASES)
    def test_archive(
        self, broker: Broker, redis: Any, make_broker: Callable[..., Broker], options: dict[str, Any],
        before: State, only_if_expired: bool, want: bool, after: State,
    ) -> None:
        b = make_broker(**options) if options else broker
        act = lambda: b.archive(lease(T1), T1_FAILED, now=NOW, only_if_expired=only_if_expired)  # noqa: E731
        self.check(redis, before, act, want, after)

    def test_archive_keeps_10000_by_default(self, broker: Broker, redis: Any) -> None:
        ids = [f"a{i:05}" for i in range(10_000)]
        scores = {task_id: NOW - 10_000 + i for i, task_id in enumerate(ids)}
        oldest = (msg(ids[0]), scores[ids[0]])
        before = merge(queues(Q), active(T1), {_qkey(Q, "archived"): zset(scores)}, archived(oldest))
        after = merge(
            _ARCHIVED_COUNTED,
            {_qkey(Q, "archived"): zset({i: scores[i] for i in ids[1:]})},
            archived((T1_FAILED, NOW)),
        )
        self.check(redis, before, lambda: broker.archive(lease(T1), T1_FAILED, now=NOW), True, after)

    @pytest.mark.parametrize("before, held, want, after", EXTEND_CASES)
    def test_extend_leases(
        self, broker: Broker, redis: Any, before: State, held: list[Lease], want: list[Lease], after: State
    ) -> None:
        self.check(redis, before, lambda: broker.extend_leases(held, until=NOW + 60), want, after)

    @pytest.mark.parametrize("before, names, want, after", FORWARD_CASES)
    def test_forward(
        self, broker: Broker, redis: Any, before: State, names: list[str], want: int, after: State,
    ) -> None:
        self.check(redis, before, lambda: broker.forward(names, now=NOW), want, after)

    @pytest.mark.parametrize("before, names, want, after", EXPIRED_LEASE_CASES)
    def test_expired_leases(
        self, broker: Broker, redis: Any, before: State, names: list[str],
        want: list[tuple[TaskMessage, str]], after: State,
    ) -> None:
        def act() -> list[tuple[TaskMessage, str]]:
            found = broker.expired_leases(names, now=NOW)
            assert all(held.expires_at <= NOW for held in found)
            return sorted(((held.message, held.token) for held in found), key=lambda pair: pair[0].id)

        self.check(redis, before, act, sorted(want, key=lambda pair: pair[0].id), after)

    @pytest.mark.parametrize("before, want, after", RECONCILE_CASES)
    def test_reconcile_active(
        self, broker: Broker, redis: Any, before: State, want: int, after: State,
    ) -> None:
        self.check(redis, before, lambda: broker.reconcile_active([Q], now=NOW), want, after)

    def test_orphan_is_recovered(self, broker: Broker, redis: Any) -> None:
        """An active task without lease is reconciled, listed as expired, and retried."""
        seed(redis, merge(queues(Q), active(T1, token=None, lease_until=None)))
        assert broker.reconcile_active([Q], now=NOW) == 1
        (expired,) = broker.expired_leases([Q], now=NOW)
        assert broker.retry(expired, T1_FAILED, retry_at=NOW, is_failure=True, now=NOW, only_if_expired=True)
        assert_state(redis, merge(queues(Q), retrying((T1_FAILED, NOW)), counters(processed=1, failed=1)))

    @pytest.mark.parametrize("before, want, after", DELETE_COMPLETED_CASES)
    def test_delete_expired_completed(
        self, broker: Broker, redis: Any, before: State, want: int, after: State,
    ) -> None:
        self.check(redis, before, lambda: broker.delete_expired_completed([Q], now=NOW), want, after)

    @pytest.mark.parametrize("before, server, workers, after", WRITE_SERVER_CASES)
    def test_write_server_state(
        self, broker: Broker, redis: Any, before: State, server: ServerState,
        workers: list[WorkerState], after: State,
    ) -> None:
        act = lambda: broker.write_server_state(server, workers, ttl=SERVER_TTL, now=NOW)  # noqa: E731
        self.check(redis, before, act, None, after)

    @pytest.mark.parametrize("before, after", CLEAR_SERVER_CASES)
    def test_clear_server_state(
        self, broker: Broker, redis: Any, before: State, after: State,
    ) -> None:
        self.check(redis, before, lambda: broker.clear_server_state(SERVER), None, after)

    def test_lease_fencing(self, broker: Broker, redis: Any) -> None:  # type: ignore[override]
        super().test_lease_fencing(broker)
        counted = counters(processed=2, failed=1, expires_at=RECOVERED_AT + DAY_COUNTER_TTL)
        assert_state(redis, merge(queues(Q), counted))
