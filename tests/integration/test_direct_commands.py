"""The broker's direct command path (asynq/brokers/redis/direct.py) on a real Redis, plain
and Sentinel-managed: it reaches the primary, a connection that may hold a stray reply is
never reused, an error reply keeps it in step, a forked child gets connections of its own,
and close() lets go of them all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis import exceptions as rex
from redis.sentinel import Sentinel

from asynq import Client, Task, TaskState
from asynq.brokers.redis.direct import DirectCommands
from brokers import RedisServer
from testkit import wait_until


@pytest.fixture(params=["standalone", "sentinel"])
def client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    if request.param == "standalone":
        r = redis.Redis.from_url(request.getfixturevalue("redis_url"), socket_timeout=0.5)
    else:
        request.getfixturevalue("sentinel_url")  # a clean database on the primary
        sentinels = request.getfixturevalue("sentinel_set")
        addrs = [(host, int(port)) for host, port in (a.rsplit(":", 1) for a in sentinels.sentinel_addrs)]
        r = Sentinel(addrs, socket_timeout=0.5).master_for(
            sentinels.master_name, socket_timeout=0.5
        )
    yield r
    r.close()


def test_commands_reach_the_clients_server(client: redis.Redis) -> None:
    client.set("direct:probe", "here")
    direct = DirectCommands(client.connection_pool)
    assert direct.execute_command("GET", "direct:probe") == b"here"
    direct.close()


def client_names(r: redis.Redis) -> list[str]:
    return [c["name"] for c in r.client_list() if c["name"].startswith("direct-")]


def test_error_reply_leaves_the_connection_in_step(client: redis.Redis) -> None:
    direct = DirectCommands(client.connection_pool)
    me = direct.execute_command("CLIENT", "ID")
    with pytest.raises(rex.ResponseError, match="boom"):
        direct.execute_command("EVAL", "return redis.error_reply('boom')", 0)
    assert direct.execute_command("ECHO", "next") == b"next"
    assert direct.execute_command("CLIENT", "ID") == me  # the same connection, still usable
    direct.close()


def test_many_commands_reply_in_order_and_an_error_is_raised_after_all_replies(client: redis.Redis) -> None:
    direct = DirectCommands(client.connection_pool)
    client.delete("direct:n")
    assert direct.execute_many([("INCR", "direct:n"), ("INCRBY", "direct:n", 2), ("ECHO", b"\x00\xff")]) == [
        1, 3, b"\x00\xff"
    ]
    me = direct.execute_command("CLIENT", "ID")
    with pytest.raises(rex.ResponseError, match="first"):
        direct.execute_many([
            ("EVAL", "return redis.error_reply('first')", 0),
            ("INCR", "direct:n"),
            ("EVAL", "return redis.error_reply('second')", 0),
        ])
    assert client.get("direct:n") == b"4"  # the commands after the error ran too
    assert direct.execute_command("ECHO", "next") == b"next"  # every reply was read
    assert direct.execute_command("CLIENT", "ID") == me
    direct.close()


def test_streamed_commands_run_while_the_caller_makes_the_next(client: redis.Redis) -> None:
    direct = DirectCommands(client.connection_pool)
    client.delete("direct:stream")

    def commands() -> Iterator[tuple[Any, ...]]:
        for i in range(3):
            yield ("RPUSH", "direct:stream", i)
            # Redis has run the command before we make the next: it was sent, not held back.
            wait_until(lambda: client.llen("direct:stream") == i + 1, what=f"RPUSH #{i + 1} to arrive")
        yield ("EVAL", "return redis.error_reply('late')", 0)
        yield ("LRANGE", "direct:stream", 0, -1)

    with pytest.raises(rex.ResponseError, match="late"):
        direct.execute_streamed(commands())
    assert direct.execute_streamed(iter([("LLEN", "direct:stream"), ("ECHO", "x")])) == [3, b"x"]
    direct.close()


def test_a_stream_that_fails_midway_drops_its_connection(client: redis.Redis) -> None:
    direct = DirectCommands(client.connection_pool)
    me = direct.execute_command("CLIENT", "ID")

    def commands() -> Iterator[tuple[Any, ...]]:
        yield ("ECHO", "sent")
        raise RuntimeError("the caller failed while making the next command")

    with pytest.raises(RuntimeError, match="caller failed"):
        direct.execute_streamed(commands())
    # ECHO's reply is still on that connection, unread: using it again would return it here.
    assert direct.execute_command("ECHO", "after") == b"after"
    assert direct.execute_command("CLIENT", "ID") != me
    direct.close()


def test_an_argument_that_cannot_be_sent_raises_and_costs_no_connection(client: redis.Redis) -> None:
    direct = DirectCommands(client.connection_pool)
    me = direct.execute_command("CLIENT", "ID")
    with pytest.raises(rex.DataError):
        direct.execute_command("SET", "direct:bad", None)
    assert direct.execute_command("CLIENT", "ID") == me
    assert client.exists("direct:bad") == 0
    direct.close()


def test_a_client_with_another_encoding_encodes_as_its_own_commands_do(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without hiredis (e.g. on PyPy) redis-py packs str in the client's encoding; with it,
    # always as UTF-8. The first case is the one our UTF-8 packer must stay out of.
    monkeypatch.setattr(redis.connection, "HIREDIS_AVAILABLE", False)
    with redis.Redis.from_url(redis_url, encoding="latin-1") as r, redis.Redis.from_url(redis_url) as raw:
        direct = DirectCommands(r.connection_pool)
        direct.execute_command("RPUSH", "direct:enc", "é")
        direct.execute_streamed(iter([("RPUSH", "direct:enc", "é")]))
        r.rpush("direct:enc", "é")
        assert raw.lrange("direct:enc", 0, -1) == [b"\xe9", b"\xe9", b"\xe9"]
        direct.close()


def test_a_timed_out_call_never_hands_its_late_reply_to_the_next(client: redis.Redis) -> None:
    direct = DirectCommands(client.connection_pool)
    client.delete("direct:list")
    first = direct.execute_command("CLIENT", "ID")
    with pytest.raises(rex.TimeoutError):
        direct.execute_command("BLPOP", "direct:list", 1)  # the reply (nil) comes after 1 s
    # A reused connection would read BLPOP's late reply here instead of ECHO's.
    assert direct.execute_command("ECHO", "after") == b"after"
    assert direct.execute_command("CLIENT", "ID") != first
    direct.close()


def test_connections_are_made_like_the_pools_own_and_closed(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url, client_name="direct-probe")
    assert client_names(r) == ["direct-probe"]  # the pool's own connection, running CLIENT LIST
    direct = DirectCommands(r.connection_pool)
    direct.execute_command("PING")
    assert client_names(r) == ["direct-probe", "direct-probe"]  # ours got the pool's settings
    direct.close()
    assert client_names(r) == ["direct-probe"]
    r.close()


def test_forked_child_uses_connections_of_its_own(redis_url: str) -> None:
    with Client(redis_url) as producer:
        direct = producer.broker._direct  # type: ignore[attr-defined]
        parent_id = direct.execute_command("CLIENT", "ID")  # now the parent's idle connection
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: enqueue, report the connection it used, exit without cleanup
            try:
                assert producer.enqueue(Task("from:child")).state is TaskState.PENDING
                os.write(write, str(direct.execute_command("CLIENT", "ID")).encode())
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        child_id = os.read(read, 64)
        os.close(read)
        assert child_id and int(child_id) != parent_id
        assert producer.enqueue(Task("from:parent")).state is TaskState.PENDING
        assert direct.execute_command("CLIENT", "ID") == parent_id
    with redis.Redis.from_url(redis_url) as r:
        assert r.llen("asynq:{default}:pending") == 2


def test_after_a_server_restart_one_call_fails_and_the_next_connects_afresh(fresh_redis_server: RedisServer) -> None:
    r = redis.Redis.from_url(fresh_redis_server.url)
    direct = DirectCommands(r.connection_pool)
    start = threading.Barrier(4)

    def hold_a_connection() -> None:
        start.wait()
        direct.execute_command("BLPOP", "direct:nothing", 0.3)  # four at once: four connections

    threads = [threading.Thread(target=hold_a_connection) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(direct._idle) == 4
    fresh_redis_server.restart()  # every idle connection is now dead
    with pytest.raises(rex.ConnectionError):
        direct.execute_command("PING")
    # Had the other three dead connections been kept, this would meet one of them and fail too.
    assert direct.execute_command("PING") == b"PONG"
    direct.close()
    r.close()
