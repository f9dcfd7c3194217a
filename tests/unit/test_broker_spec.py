"""What a "broker" argument may be: URLs, connection options, redis clients, Broker objects.

Nothing here connects to a server: redis-py clients connect lazily.
"""

from __future__ import annotations

import uuid
from typing import Any

import fakeredis
import pytest
import redis

from asynq import Client, MemoryBroker, RedisBroker, RedisClientOpt, RedisFailoverClientOpt, Task
from asynq.brokers import open_broker
from asynq.brokers.redis.options import parse_url

NOW = 1_700_000_000.0


class FixedClock:
    def now(self) -> float:
        return NOW


# --- parse_url -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("redis://localhost:6379", RedisClientOpt(addr="localhost:6379"), id="host:port"),
        pytest.param("redis://localhost", RedisClientOpt(addr="localhost"), id="no-port"),
        pytest.param("redis://127.0.0.1:6380/", RedisClientOpt(addr="127.0.0.1:6380"), id="empty-path"),
        pytest.param("redis://h:6379/3", RedisClientOpt(addr="h:6379", db=3), id="db"),
        pytest.param("rediss://h:6380/1", RedisClientOpt(addr="h:6380", db=1, tls=True), id="tls"),
        pytest.param("redis://:pw@h:6379/0", RedisClientOpt(addr="h:6379", password="pw"), id="password"),
        pytest.param(
            "redis://alice:pw@h:6379",
            RedisClientOpt(addr="h:6379", username="alice", password="pw"),
            id="acl-user",
        ),
        pytest.param(
            "redis://:p%40ss%2Fw0rd@h:6379",
            RedisClientOpt(addr="h:6379", password="p@ss/w0rd"),
            id="quoted-password",
        ),
        pytest.param("redis://[::1]:6379", RedisClientOpt(addr="[::1]:6379"), id="ipv6"),
        pytest.param(
            "redis-sentinel://h1:26379,h2:26379/2?master=m",
            RedisFailoverClientOpt(master_name="m", sentinel_addrs=["h1:26379", "h2:26379"], db=2),
            id="sentinel",
        ),
        pytest.param(
            "redis-sentinel://:pw@h1:26379?master=m&sentinel_password=sp",
            RedisFailoverClientOpt(
                master_name="m", sentinel_addrs=["h1:26379"], password="pw", sentinel_password="sp"
            ),
            id="sentinel-passwords",
        ),
        pytest.param(
            "redis-sentinel://bob:pw@h1:26379,h2:26380,h3:26381?master=mymaster",
            RedisFailoverClientOpt(
                master_name="mymaster",
                sentinel_addrs=["h1:26379", "h2:26380", "h3:26381"],
                username="bob",
                password="pw",
            ),
            id="sentinel-user",
        ),
    ],
)
def test_parse_url(url: str, expected: RedisClientOpt | RedisFailoverClientOpt) -> None:
    assert parse_url(url) == expected


SECRET = "s3cr3t-pw"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param(f"http://:{SECRET}@h:6379", "unsupported broker URL scheme 'http'", id="unknown-scheme"),
        pytest.param("localhost:6379", "scheme .*use redis://", id="no-scheme"),
        pytest.param(f"redis://:{SECRET}@", "no host", id="no-host"),
        pytest.param("redis://", "no host", id="nothing"),
        pytest.param(f"redis://:{SECRET}@h:6379/zero", "db number", id="non-numeric-db"),
        pytest.param(f"redis://:{SECRET}@h:6379/-1", "db number", id="negative-db"),
        pytest.param(f"redis://:{SECRET}@h:6379/0/1", "db number", id="two-path-parts"),
        pytest.param(f"redis-sentinel://:{SECRET}@h1:26379,h2:26379/0", "master", id="sentinel-no-master"),
        pytest.param(
            f"redis-sentinel://h1:26379/0?sentinel_password={SECRET}",
            "master",
            id="sentinel-no-master-query-pw",
        ),
        pytest.param(f"redis-sentinel://:{SECRET}@/0?master=m", "no host", id="sentinel-no-host"),
    ],
)
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_url(url)
    assert SECRET not in str(caught.value)
    with pytest.raises(ValueError) as via_client:  # and the same through the public entry point
        Client(url)
    assert SECRET not in str(via_client.value)


def test_bad_port_fails_when_opened() -> None:
    with pytest.raises(ValueError, match="port must be a number"):
        Client(f"redis://:{SECRET}@h:port/0")


# --- secrets never shown -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(RedisClientOpt(addr="h:6379", password=SECRET, username="alice"), id="RedisClientOpt"),
        pytest.param(
            RedisFailoverClientOpt(
                master_name="m", sentinel_addrs=["h1:26379"], password=SECRET, sentinel_password=SECRET + "-s"
            ),
            id="RedisFailoverClientOpt",
        ),
        pytest.param(parse_url(f"redis://alice:{SECRET}@h:6379/0"), id="parsed-url"),
        pytest.param(
            parse_url(f"redis-sentinel://:{SECRET}@h1:26379?master=m&sentinel_password={SECRET}"),
            id="parsed-sentinel",
        ),
    ],
)
def test_passwords_are_not_in_repr(spec: RedisClientOpt | RedisFailoverClientOpt) -> None:
    assert SECRET not in repr(spec) and SECRET not in str(spec)
    client = Client(spec)  # lazily connected: nothing is sent
    try:
        assert SECRET not in repr(client) and SECRET not in repr(client.broker)
    finally:
        client.close()


def test_password_still_reaches_redis_py() -> None:
    """Hidden from repr, but not dropped: the connection uses it."""
    broker = RedisClientOpt(addr="h:6379", password=SECRET, username="alice", db=2).open()
    try:
        kwargs = broker._client.get_connection_kwargs()
        assert (kwargs["password"], kwargs["username"], kwargs["db"]) == (SECRET, "alice", 2)
        assert (kwargs["host"], kwargs["port"]) == ("h", 6379)
    finally:
        broker.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: RedisClientOpt(db=-1), "db must be a non-negative integer", id="negative-db"),
        pytest.param(
            lambda: RedisFailoverClientOpt(master_name="m", sentinel_addrs=[]),
            "at least one",
            id="no-sentinels",
        ),
    ],
)
def test_bad_options(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


# --- memory:// -----------------------------------------------------------------------------------


def _name() -> str:
    """A memory server name no other test uses (named servers live as long as the process)."""
    return f"test-{uuid.uuid4().hex}"


def _dequeued_ids(broker: Any) -> list[str]:
    return [lease.message.id for lease in broker.dequeue(["default"], 10, now=NOW, lease_until=NOW + 30)]


def test_memory_url_with_the_same_name_shares_data() -> None:
    url = f"memory://{_name()}"
    producer, consumer = Client(url, clock=FixedClock()), Client(url, clock=FixedClock())
    assert isinstance(producer.broker, MemoryBroker)
    assert producer.broker is not consumer.broker  # two brokers, one server

    info = producer.enqueue(Task("t"))

    assert _dequeued_ids(consumer.broker) == [info.id]


def test_memory_urls_with_different_names_are_isolated() -> None:
    a = Client(f"memory://{_name()}", clock=FixedClock())
    b = Client(f"memory://{_name()}", clock=FixedClock())
    a.enqueue(Task("t"))
    assert _dequeued_ids(b.broker) == []


def test_bare_memory_url_is_one_process_wide_broker() -> None:
    """``memory://`` everywhere in one process (e.g. a quickstart's client and worker) is one store."""
    first, second = Client("memory://", clock=FixedClock()), Client("memory://", clock=FixedClock())
    named = Client(f"memory://{_name()}", clock=FixedClock())
    info = first.enqueue(Task("t"), queue=f"q-{uuid.uuid4().hex}")
    got = second.broker.dequeue([info.queue], 1, now=NOW, lease_until=NOW + 30)
    assert [lease.message.id for lease in got] == [info.id]
    assert named.broker.dequeue([info.queue], 1, now=NOW, lease_until=NOW + 30) == []


def test_memory_broker_objects_are_isolated() -> None:
    a, b = MemoryBroker(), MemoryBroker()
    Client(a, clock=FixedClock()).enqueue(Task("t"))
    assert _dequeued_ids(b) == []


# --- open_broker ---------------------------------------------------------------------------------


def test_open_broker_with_a_broker_does_not_own_it() -> None:
    broker = MemoryBroker()
    assert open_broker(broker) == (broker, False)


@pytest.mark.parametrize(
    ("spec", "address"),
    [
        pytest.param(
            RedisClientOpt(addr="127.0.0.1:6390", connect_timeout=2), "127.0.0.1:6390", id="RedisClientOpt"
        ),
        pytest.param("redis://127.0.0.1:6391/0", "127.0.0.1:6391", id="redis-url"),
        pytest.param(
            RedisFailoverClientOpt(master_name="m", sentinel_addrs=["127.0.0.1:26390"]),
            "sentinel master 'm' via 127.0.0.1:26390",
            id="RedisFailoverClientOpt",
        ),
    ],
)
def test_open_broker_with_options_owns_it(spec: Any, address: str) -> None:
    broker, owned = open_broker(spec)
    try:
        assert isinstance(broker, RedisBroker) and owned
        assert broker.address == address
    finally:
        broker.close()


def test_open_broker_with_a_memory_url_owns_it() -> None:
    broker, owned = open_broker(f"memory://{_name()}")
    assert isinstance(broker, MemoryBroker) and owned


def test_open_broker_with_a_redis_client_does_not_own_it() -> None:
    conn = redis.Redis(host="127.0.0.1", port=6392)
    broker, owned = open_broker(conn)
    assert isinstance(broker, RedisBroker) and not owned
    assert broker.address == "127.0.0.1:6392"


def test_a_redis_client_is_used_as_given() -> None:
    """The broker talks through the very client it was handed (here a fakeredis one)."""
    conn = fakeredis.FakeRedis()
    with Client(conn, clock=FixedClock()) as client:
        info = client.enqueue(Task("t"))
    assert conn.lrange("asynq:{default}:pending", 0, -1) == [info.id.encode()]  # still open


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(42, id="int"),
        pytest.param(None, id="None"),
        pytest.param(b"redis://h:6379", id="bytes-url"),
        pytest.param({"addr": "h:6379"}, id="dict"),
        pytest.param(object(), id="object"),
    ],
)
def test_open_broker_rejects_other_objects(spec: Any) -> None:
    with pytest.raises(TypeError, match=rf"broker must be a Broker, .*not {type(spec).__name__}"):
        open_broker(spec)
    with pytest.raises(TypeError, match="broker must be"):
        Client(spec)
