"""Single commands on connections of our own, without redis-py's per-call machinery.

``redis.Redis.execute_command`` checks a connection out of the pool (polling the socket for
stale data), runs observability hooks, a retry wrapper and response callbacks: about 60 us
per call on a 2-core machine, as much as the round trip itself. The broker's hot calls (one
script each: enqueue, dequeue, settle-and-refill) need none of that, so they go through
:class:`DirectCommands`, which keeps idle connections made by the client's own pool (so TLS,
credentials, the database and Sentinel's primary lookup are all the client's) and uses only
their public ``send_packed_command`` / ``read_response``. Commands are packed by hiredis's C
packer, called directly (redis-py's wrapper first copies every argument), or where hiredis is
missing by a Python packer of our own (redis-py's costs about 1 us per argument; a batch of
100 tasks has 500).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis
from redis import exceptions as rex


class DirectCommands:
    """Runs commands on connections of its own, one caller per connection; thread-safe, fork-safe."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool = pool
        self._idle: list[Any] = []
        self._lock = threading.Lock()  # so close() never disconnects one a caller just took
        self._pid = os.getpid()
        encoder = pool.get_encoder()
        # Our own packer writes str as strict UTF-8, as redis-py does by default (and always,
        # with hiredis); a client made with another encoding keeps redis-py's packer, so all
        # its commands encode alike.
        self._fast_pack = (encoder.encoding.lower().replace("-", ""), encoder.encoding_errors) == ("utf8", "strict")

    def execute_command(self, *args: Any) -> Any:
        """Send ``args`` as one command and return its reply (redis-py's exceptions on error).

        Named as redis-py's, so a script call can go to either.
        """
        return self.execute_many([args])[0]

    def execute_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` in one write and return their replies, in order (a pipeline).

        An error reply is raised once every reply is read, so the connection stays in step;
        the first one is raised, as redis-py's pipelines do.
        """
        # Packed before a connection is taken: an argument that cannot be sent costs none.
        packed = [b"".join(map(pack_command, commands))] if self._fast_pack else None

        def send(conn: Any) -> int:
            conn.send_packed_command(packed or conn.pack_commands(commands), check_health=False)
            return len(commands)

        return self._exchange(send)

    def execute_streamed(self, commands: Iterable[Sequence[Any]]) -> list[Any]:
        """Like :meth:`execute_many`, but each command is sent as soon as ``commands`` yields it.

        For a long pipeline of commands that are costly to make: Redis runs the first ones
        while the caller makes the rest, on the other core.
        """

        def send(conn: Any) -> int:
            count = 0
            for command in commands:
                packed = [pack_command(command)] if self._fast_pack else conn.pack_command(*command)
                conn.send_packed_command(packed, check_health=False)
                count += 1
            return count

        return self._exchange(send)

    def _exchange(self, send: Callable[[Any], int]) -> list[Any]:
        """Run ``send`` on a connection, then read as many replies as it says it sent."""
        conn = self._take()
        try:
            count = send(conn)
            replies: list[Any] = []
            error: rex.ResponseError | None = None
            for _ in range(count):
                try:
                    replies.append(conn.read_response())
                except rex.ResponseError as exc:  # an error reply leaves the connection in step
                    replies.append(exc)
                    error = error or exc
        except rex.ConnectionError:
            # The server restarted, failed over or the network broke: the idle connections are
            # as dead as this one. Dropping them all lets the caller's retry connect afresh,
            # rather than meet one dead connection per retry.
            conn.disconnect()
            self.close()
            raise
        except BaseException:
            # Timed out or interrupted between request and reply (or while sending): the
            # connection may still receive a reply meant for this call, so it is never used
            # again. (redis-py drops a plain connection on a timeout itself, a Sentinel-managed
            # one it keeps.)
            conn.disconnect()
            raise
        with self._lock:
            self._idle.append(conn)
        if error is not None:
            raise error
        return replies

    def _take(self) -> Any:
        """An idle connection, or a new one made like the pool's own."""
        if self._pid != os.getpid():
            # A forked child must not share its parent's sockets (the parent keeps them open),
            # nor a lock another parent thread may have held at the fork.
            self._idle, self._lock, self._pid = [], threading.Lock(), os.getpid()
        with self._lock:
            if self._idle:
                return self._idle.pop()
        # Outside the pool's count: these are never checked in.
        conn = self._pool.connection_class(**self._pool.connection_kwargs)
        # Connected now, as the pool does: a Sentinel-managed connection finds the primary
        # only in connect(); the lazy connect of send_packed_command would not ask.
        conn.connect()
        return conn

    def close(self) -> None:
        """Disconnect the idle connections (one in use is dropped when its call ends badly,
        or kept for the next call)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()


_LENGTHS = [b"$%d\r\n" % n for n in range(1024)]
"""The RESP length prefix of the short arguments every command is mostly made of."""


_c_pack_command: Callable[[Any], bytes] | None
try:
    from hiredis import pack_command as _c_pack_command
except ImportError:  # an interpreter without hiredis (PyPy): the Python packer does it all
    _c_pack_command = None


def pack_command(args: Sequence[Any]) -> bytes:
    """One command in RESP, as redis-py packs it with its default (UTF-8) encoder: bytes as
    they are, str as UTF-8, int and float as their repr.

    hiredis's C packer does it in a third of the time of the Python one; it takes only a
    tuple of str, bytes, int and float, so anything else goes to the Python packer, which
    packs bytearray and memoryview and names what cannot be sent.
    """
    if _c_pack_command is not None:
        try:
            return _c_pack_command(args)
        except TypeError:
            pass
    return _pack_in_python(args)


def _pack_in_python(args: Sequence[Any]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    append = parts.append
    for arg in args:
        kind = type(arg)
        if kind is str:
            data = arg.encode()
        elif kind is bytes:
            data = arg
        elif kind is int or kind is float:
            data = repr(arg).encode()
        elif isinstance(arg, (bytes, bytearray, memoryview)):
            data = bytes(arg)
        else:
            # redis-py's own rule: nothing else (bool, None, ...) has an unambiguous encoding.
            raise rex.DataError(
                f"Invalid input of type: {kind.__name__!r}. Convert to a bytes, string, int or float first."
            )
        size = len(data)
        append(_LENGTHS[size] if size < 1024 else b"$%d\r\n" % size)
        append(data)
        append(b"\r\n")
    return b"".join(parts)
