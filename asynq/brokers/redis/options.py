"""Where Redis is: the seed's connection options, and the URLs that name them."""

from __future__ import annotations

import urllib.parse
from typing import Any

import attrs
import redis
from redis.backoff import NoBackoff
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

    def open(self, **broker_options: Any) -> RedisBroker:
        host, port = _split_addr(self.addr, 6379)
        client = redis.Redis(
            host=host,
            port=port,
            db=self.db,
            username=self.username,
            password=self.password,
            ssl=self.tls,
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
    sentinel_addrs: list[str] = attrs.field(converter=list)
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


def parse_url(url: str) -> RedisClientOpt | RedisFailoverClientOpt:
    """Parse ``redis://``, ``rediss://`` and ``redis-sentinel://`` URLs.

    ``redis://[[user]:password@]host[:port][/db]``; ``rediss://`` is the same over TLS;
    ``redis-sentinel://[[user]:password@]h1:26379,h2:26379[/db]?master=NAME`` where the
    password is the primary's (``sentinel_password=`` in the query for the sentinels').
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "redis-sentinel"):
        raise ValueError(
            f"unsupported broker URL scheme {parts.scheme!r} in {_redact(url)!r}; "
            "use redis://, rediss://, redis-sentinel:// or memory://"
        )
    query = urllib.parse.parse_qs(parts.query)
    db = _db_from_path(url, parts.path)
    username = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        raise ValueError(f"invalid broker URL {_redact(url)!r}: no host")
    if parts.scheme in ("redis", "rediss"):
        return RedisClientOpt(
            addr=hosts, password=password, db=db, username=username, tls=parts.scheme == "rediss"
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
