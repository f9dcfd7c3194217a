"""Single commands on connections of our own, without redis-py's per-call machinery.

``redis.Redis.execute_command`` checks a connection out of the pool (polling the socket for
stale data), runs observability hooks, a retry wrapper and response callbacks: about 60 us
per call on a 2-core machine, as much as the round trip itself. The broker's hot calls (one
script each: enqueue, dequeue, settle-and-refill) need none of that, so they go through
:class:`DirectCommands`, which keeps idle connections made by the client's own pool (so TLS,
credentials, the database and Sentinel's primary lookup are all the client's) and uses only
their public ``send_packed_command`` / ``read_response``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import redis
from redis import exceptions as rex


class DirectCommands:
    """Runs one command at a time per connection; thread-safe, fork-safe."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool = pool
        self._idle: list[Any] = []
        self._lock = threading.Lock()  # so close() never disconnects one a caller just took
        self._pid = os.getpid()

    def execute_command(self, *args: Any) -> Any:
        """Send ``args`` as one command and return its reply (redis-py's exceptions on error).

        Named as redis-py's, so a script call can go to either.
        """
        if self._pid != os.getpid():
            # A forked child must not share its parent's sockets (the parent keeps them open),
            # nor a lock another parent thread may have held at the fork.
            self._idle, self._lock, self._pid = [], threading.Lock(), os.getpid()
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            # Made like the pool's own, but outside its count: these are never checked in.
            conn = self._pool.connection_class(**self._pool.connection_kwargs)
            # Connected now, as the pool does: a Sentinel-managed connection finds the primary
            # only in connect(); the lazy connect of send_packed_command would not ask.
            conn.connect()
        try:
            conn.send_packed_command(conn.pack_command(*args), check_health=False)
            reply = conn.read_response()
        except rex.ResponseError:
            self._keep(conn)  # an error reply leaves the connection in step
            raise
        except rex.ConnectionError:
            # The server restarted, failed over or the network broke: the idle connections are
            # as dead as this one. Dropping them all lets the caller's retry connect afresh,
            # rather than meet one dead connection per retry.
            conn.disconnect()
            self.close()
            raise
        except BaseException:
            # Timed out or interrupted between request and reply: the connection may still
            # receive a reply meant for this call, so it is never used again. (redis-py drops
            # a plain connection on a timeout itself, a Sentinel-managed one it keeps.)
            conn.disconnect()
            raise
        self._keep(conn)
        return reply

    def _keep(self, conn: Any) -> None:
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        """Disconnect the idle connections (one in use is dropped when its call ends badly,
        or kept for the next call)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()
