"""The local topologies in ``brokers/`` start, serve, survive what chaos tests do, and stop."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from redis.sentinel import Sentinel
from testkit import wait_until

from brokers import RedisServer, SentinelSet, StartupError

REPO_ROOT = Path(__file__).resolve().parents[2]


def _port_is_free(port: int) -> bool:
    """Whether a new server could listen on ``port`` (SO_REUSEADDR, as redis-server binds)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _addr_tuple(addr: str) -> tuple[str, int]:
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def test_standalone_starts_answers_and_stops_without_leftovers() -> None:
    server = RedisServer()
    server.start()
    pid, port, directory = server.pid, server.port, server.directory
    assert pid is not None
    assert server.url == f"redis://127.0.0.1:{port}/0"
    with server.client() as conn:
        assert conn.ping()

    server.stop()

    assert not server.is_running
    assert not _process_exists(pid)
    assert _port_is_free(port)
    assert not directory.exists()
    server.stop()  # idempotent


def test_start_failure_reports_the_log_tail() -> None:
    with pytest.raises(StartupError, match="bogus-directive"):
        RedisServer(config=["bogus-directive yes"]).start()


def test_restart_with_appendonly_keeps_data_after_a_crash(
    fresh_redis_server: RedisServer,
) -> None:
    port = fresh_redis_server.port
    with fresh_redis_server.client() as conn:
        conn.set("survivor", "yes")

    fresh_redis_server.kill()
    assert not fresh_redis_server.is_running
    fresh_redis_server.restart()

    assert fresh_redis_server.port == port
    with fresh_redis_server.client() as conn:
        assert conn.get("survivor") == b"yes"


def test_redis_url_is_an_empty_server(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as conn:
        assert conn.ping()
        assert conn.dbsize() == 0


def test_cli_prints_the_url_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "brokers", "standalone"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = _read_line_starting_with(proc, "url: ", timeout=15).removeprefix("url: ")
        with redis.Redis.from_url(url) as conn:
            assert conn.ping()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    port = urlsplit(url).port
    assert port is not None and _port_is_free(port)


def _read_line_starting_with(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """Read ``proc``'s stdout until a line starts with ``prefix``, failing at the deadline."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(remaining):
                continue
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"CLI exited with {proc.wait()} before printing {prefix!r}")
            if line.startswith(prefix):
                return line.strip()
    pytest.fail(f"CLI printed no {prefix!r} line within {timeout}s")


def test_sentinel_set_reports_its_primary(sentinel_set: SentinelSet, sentinel_url: str) -> None:
    ports = ",".join(sentinel_set.sentinel_addrs)
    assert len(sentinel_set.sentinel_addrs) == 3
    assert sentinel_url == f"redis-sentinel://{ports}/0?master=mymaster"
    assert sentinel_set.master_name == "mymaster"
    assert sentinel_set.current_primary_addr() == sentinel_set.primary.addr

    client = Sentinel([_addr_tuple(a) for a in sentinel_set.sentinel_addrs], socket_timeout=1)
    assert client.discover_master("mymaster") == _addr_tuple(sentinel_set.primary.addr)
    assert client.discover_slaves("mymaster") == [_addr_tuple(sentinel_set.replica.addr)]


def test_sentinel_set_replicates(sentinel_set: SentinelSet, sentinel_url: str) -> None:
    with sentinel_set.primary.client() as primary, sentinel_set.replica.client() as replica:
        primary.set("replicated", "yes")
        assert primary.wait(1, 5000) == 1
        assert replica.get("replicated") == b"yes"


def test_sentinel_failover_promotes_the_replica(fresh_sentinel_set: SentinelSet) -> None:
    topology = fresh_sentinel_set
    old_primary, old_replica = topology.primary, topology.replica

    killed = topology.kill_primary()
    assert killed == old_primary.addr
    new_addr = topology.wait_for_failover(killed, timeout=15)

    assert new_addr == old_replica.addr
    assert topology.primary is old_replica
    assert topology.replica is old_primary
    assert topology.current_primary_addr() == new_addr
    sentinel = Sentinel([_addr_tuple(a) for a in topology.sentinel_addrs], socket_timeout=1)
    client = sentinel.master_for("mymaster", socket_timeout=1)
    assert client.set("after-failover", "yes")
    with old_replica.client() as conn:
        assert conn.get("after-failover") == b"yes"

    topology.rejoin_replica()  # the old primary comes back as a replica of the new one
    with old_primary.client() as conn:
        assert conn.info("replication")["master_port"] == old_replica.port
        assert conn.get("after-failover") == b"yes"
    assert client.set("after-rejoin", "yes")
    assert client.wait(1, 5000) == 1
    wait_until(
        lambda: _addr_tuple(old_primary.addr) in sentinel.discover_slaves("mymaster"),
        timeout=15, what="the Sentinels to list the old primary as a replica",
    )
