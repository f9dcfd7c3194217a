"""Where Redis is: the seed's connection options, and the URLs that name them."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any, Callable

import attrs
import redis
from redis import exceptions as rex
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from asynq.brokers.redis.broker import RedisBroker


def _no_client_retries() -> dict[str, Any]:
    # RedisBroker retries whole operations within one time budget; redis-py's own retries
    # would stretch that budget and hide how long Redis has been gone.
    return {"retry": Retry(NoBackoff(), 0)}


def _split_addr(addr: str, default_port: int) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, default_port
    if not port.isdigit():
        raise ValueError(f"invalid Redis address {addr!r}: the port must be a number")
    return host.strip("[]"), int(port)


def _addresses(addrs: Iterable[str]) -> list[str]:
    return list(addrs)


def _check_db(db: int) -> int:
    if not isinstance(db, int) or db < 0:
        raise ValueError(f"db must be a non-negative integer, got {db!r}")
    return db


@attrs.frozen
class RedisClientOpt:
    """A standalone Redis server (the seed's ``RedisClientOpt``)."""

    addr: str = "localhost:6379"
    password: str | None = attrs.field(default=None, repr=False)
    db: int = attrs.field(default=0, converter=_check_db)
    username: str | None = None
    tls: bool = False
    connect_timeout: float = 5.0
    """Seconds an operation keeps trying to reach Redis before BrokerConnectionError."""
    tls_ca_certs: str | None = None
    """With ``tls``: a PEM file of the CAs to trust (default: the system's)."""
    tls_verify: bool = True
    """With ``tls``: check the server's certificate and host name. Turn off only for testing."""

    def open(self, **broker_options: Any) -> RedisBroker:
        host, port = _split_addr(self.addr, 6379)
        client = redis.Redis(
            host=host,
            port=port,
            db=self.db,
            username=self.username,
            password=self.password,
            ssl=self.tls,
            ssl_ca_certs=self.tls_ca_certs,
            ssl_cert_reqs="required" if self.tls_verify else "none",
            ssl_check_hostname=self.tls_verify,
            socket_connect_timeout=self.connect_timeout,
            **_no_client_retries(),
        )
        return RedisBroker(
            client, address=self.addr, retry_timeout=self.connect_timeout, **broker_options
        )


@attrs.frozen
class RedisFailoverClientOpt:
    """A Redis primary found through Sentinel (the seed's ``RedisFailoverClientOpt``).

    After a failover, the next command that meets a dead or demoted primary asks the
    sentinels again and is retried on the new primary, within ``connect_timeout``.
    """

    master_name: str
    sentinel_addrs: list[str] = attrs.field(converter=_addresses)
    password: str | None = attrs.field(default=None, repr=False)
    db: int = attrs.field(default=0, converter=_check_db)
    username: str | None = None
    sentinel_password: str | None = attrs.field(default=None, repr=False)
    tls: bool = False
    connect_timeout: float = 5.0

    @sentinel_addrs.validator
    def _check_addrs(self, _: Any, addrs: list[str]) -> None:
        if not addrs:
            raise ValueError("sentinel_addrs must name at least one sentinel")

    def open(self, **broker_options: Any) -> RedisBroker:
        sentinel = Sentinel(
            [_split_addr(a, 26379) for a in self.sentinel_addrs],
            sentinel_kwargs={
                "password": self.sentinel_password,
                "socket_connect_timeout": self.connect_timeout,
                "socket_timeout": self.connect_timeout,
                **_no_client_retries(),
            },
            socket_connect_timeout=self.connect_timeout,
        )
        client = sentinel.master_for(
            self.master_name,
            db=self.db,
            username=self.username,
            password=self.password,
            ssl=self.tls,
            **_no_client_retries(),
        )
        address = f"sentinel master {self.master_name!r} via {','.join(self.sentinel_addrs)}"
        return RedisBroker(client, address=address, retry_timeout=self.connect_timeout, **broker_options)


@attrs.frozen
class RedisClusterClientOpt:
    """A Redis Cluster, found through any of ``addrs`` (more seed nodes ride out more failures).

    Every key of a queue carries the queue's hash tag, so each state change runs on the one
    node that serves the queue's slot; different queues spread over the cluster. The client
    follows MOVED/ASK redirects and failovers on its own; an operation that meets a cluster
    in transition (a dead primary, slots without a node) is retried within ``connect_timeout``.
    Nothing is sent until the first operation.
    """

    addrs: list[str] = attrs.field(converter=_addresses)
    password: str | None = attrs.field(default=None, repr=False)
    username: str | None = None
    tls: bool = False
    connect_timeout: float = 5.0
    tls_ca_certs: str | None = None
    """With ``tls``: a PEM file of the CAs to trust (default: the system's)."""
    tls_verify: bool = True
    """With ``tls``: check each node's certificate and host name. Turn off only for testing."""

    @addrs.validator
    def _check_addrs(self, _: Any, addrs: list[str]) -> None:
        if not addrs:
            raise ValueError("addrs must name at least one cluster node")
        for addr in addrs:
            _split_addr(addr, 6379)

    def open(self, **broker_options: Any) -> RedisBroker:
        nodes = [ClusterNode(*_split_addr(a, 6379)) for a in self.addrs]

        def connect() -> RedisCluster:
            return RedisCluster(
                startup_nodes=nodes,
                username=self.username,
                password=self.password,
                ssl=self.tls,
                ssl_ca_certs=self.tls_ca_certs,
                ssl_cert_reqs="required" if self.tls_verify else "none",
                ssl_check_hostname=self.tls_verify,
                socket_connect_timeout=self.connect_timeout,
                # Serve what the cluster can while part of it is down or failing over;
                # commands for an orphaned slot fail (and are retried) on their own.
                require_full_coverage=False,
                **_no_client_retries(),
            )

        address = f"cluster {','.join(self.addrs)}"
        client: Any = _LazyCluster(connect, address)
        return RedisBroker(client, address=address, retry_timeout=self.connect_timeout, **broker_options)


class _LazyCluster:
    """A :class:`redis.cluster.RedisCluster` built on first use.

    redis-py connects to the cluster as soon as a ``RedisCluster`` is built, to learn which
    node serves which slot. Building it on first use keeps opening a broker free of I/O (as
    for standalone Redis), so a worker can start while the cluster is down; and the errors
    redis-py raises when it cannot (re)learn the layout become ``ConnectionError``, which
    RedisBroker retries within its time budget like any other outage.
    """

    def __init__(self, connect: Callable[[], RedisCluster], address: str) -> None:
        self._connect = connect
        self._address = address
        self._client: RedisCluster | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._address}>"

    @property
    def cluster(self) -> RedisCluster:
        """The underlying client, connecting it first if needed."""
        with self._lock:
            if self._client is None:
                try:
                    client = self._connect()
                except rex.RedisClusterException as exc:
                    raise rex.ConnectionError(str(exc)) from exc
                _discovery_errors_as_connection_errors(client)
                self._client = client
            return self._client

    def __getattr__(self, name: str) -> Any:
        if self._client is None and callable(getattr(RedisCluster, name, None)):
            # A method looked up before the first connection (``broker._run(client.ping)``):
            # connect when it is called, inside the caller's retry loop, not when it is named.
            return lambda *args, **kwargs: getattr(self.cluster, name)(*args, **kwargs)
        return getattr(self.cluster, name)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()


def _discovery_errors_as_connection_errors(client: RedisCluster) -> None:
    """Make a failed re-discovery of the cluster layout raise ``ConnectionError``.

    redis-py re-reads the slot table after a connection error or a MOVED reply; when no
    node answers (or they disagree mid-failover) it raises the generic
    ``RedisClusterException``, also used for programming errors. Only here do we know it
    means "the cluster is unreachable right now".
    """
    nodes_manager = getattr(client, "nodes_manager", None)
    initialize = getattr(nodes_manager, "initialize", None)
    if nodes_manager is None or initialize is None:
        return

    def initialize_or_connection_error(*args: Any, **kwargs: Any) -> Any:
        try:
            return initialize(*args, **kwargs)
        except rex.RedisClusterException as exc:
            raise rex.ConnectionError(f"cannot learn the cluster layout: {exc}") from exc

    nodes_manager.initialize = initialize_or_connection_error


def parse_url(url: str) -> RedisClientOpt | RedisFailoverClientOpt | RedisClusterClientOpt:
    """Parse ``redis://``, ``rediss://``, ``redis-sentinel://`` and ``redis-cluster://`` URLs.

    ``redis://[[user]:password@]host[:port][/db]``; ``rediss://`` is the same over TLS, with
    ``?tls_ca_certs=/path/ca.pem`` (or ``ssl_ca_certs=``) for a private CA and ``tls_verify=false``
    to skip certificate checks;
    ``redis-sentinel://[[user]:password@]h1:26379,h2:26379[/db]?master=NAME`` where the
    password is the primary's (``sentinel_password=`` in the query for the sentinels');
    ``redis-cluster://[[user]:password@]h1:7000,h2:7001[?tls=true]`` names seed nodes of a
    Redis Cluster (which has only db 0); ``tls_ca_certs=`` and ``tls_verify=`` as for rediss://.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "redis-sentinel", "redis-cluster"):
        raise ValueError(
            f"unsupported broker URL scheme {parts.scheme!r} in {_redact(url)!r}; "
            "use redis://, rediss://, redis-sentinel://, redis-cluster:// or memory://"
        )
    query = urllib.parse.parse_qs(parts.query)
    db = _db_from_path(url, parts.path)
    username = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        raise ValueError(f"invalid broker URL {_redact(url)!r}: no host")
    if parts.scheme == "redis-cluster":
        if db != 0:
            raise ValueError(f"invalid broker URL {_redact(url)!r}: a Redis Cluster has only db 0")
        return RedisClusterClientOpt(
            addrs=hosts.split(","),
            password=password,
            username=username,
            tls=query.get("tls", ["false"])[0].lower() in ("1", "true", "yes"),
            tls_ca_certs=query.get("tls_ca_certs", query.get("ssl_ca_certs", [None]))[0],
            tls_verify=query.get("tls_verify", ["true"])[0].lower() not in ("0", "false", "no"),
        )
    if parts.scheme in ("redis", "rediss"):
        ca_certs = query.get("tls_ca_certs", query.get("ssl_ca_certs", [None]))[0]
        verify = query.get("tls_verify", ["true"])[0].lower() not in ("0", "false", "no")
        return RedisClientOpt(
            addr=hosts, password=password, db=db, username=username, tls=parts.scheme == "rediss",
            tls_ca_certs=ca_certs, tls_verify=verify,
        )
    if "master" not in query:
        raise ValueError(f"invalid broker URL {_redact(url)!r}: add ?master=<name>")
    sentinel_password = query.get("sentinel_password", [None])[0]
    return RedisFailoverClientOpt(
        master_name=query["master"][0],
        sentinel_addrs=hosts.split(","),
        password=password,
        db=db,
        username=username,
        sentinel_password=sentinel_password,
    )


def _db_from_path(url: str, path: str) -> int:
    number = path.strip("/")
    if not number:
        return 0
    if not number.isdigit():
        raise ValueError(f"invalid broker URL {_redact(url)!r}: the path must be a db number")
    return int(number)


def _redact(url: str) -> str:
    """The URL without its passwords (user info and ``*password=`` query values), for error messages."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = "&".join(
        f"{name}=***" if "password" in name.lower() else pair
        for pair in parts.query.split("&")
        for name in [pair.partition("=")[0]]
    )
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))
