"""SentinelSet: a primary, a replica and three Sentinels, tuned to fail over in seconds."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from . import _reaper
from ._ports import LOOPBACK
from ._wait import wait_until
from .errors import BrokerError, TopologyTimeout
from .server import PROBE_OPTIONS, RedisServer, find_redis_server, log_tail
from .topology import Topology

log = logging.getLogger(__name__)

MASTER_NAME = "mymaster"
SENTINEL_COUNT = 3
QUORUM = 2
# Sentinel's defaults (30 s, 3 min) are for production. These make a test failover take a
# few seconds: the primary is subjectively down after 1 s, and a failed election is retried
# after 2 x failover-timeout.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
# Sentinels find each other through hello messages sent every 2 s.
READY_TIMEOUT = 20.0
FAILOVER_WAIT = 20.0
REJOIN_TIMEOUT = 30.0


class SentinelProcess(RedisServer):
    """``redis-server --sentinel`` monitoring one primary (Sentinel rewrites its config file)."""

    def __init__(
        self,
        *,
        master_name: str,
        primary_port: int,
        directory: str | os.PathLike[str],
        name: str,
    ) -> None:
        super().__init__(directory=directory, name=name)
        self.master_name = master_name
        self._primary_port = primary_port

    def _config_lines(self) -> list[str]:
        name = self.master_name
        return self._common_config_lines() + [
            f"sentinel monitor {name} {LOOPBACK} {self._primary_port} {QUORUM}",
            f"sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {name} 1",
        ]

    def _command_args(self) -> list[str]:
        return ["--sentinel"]

    def master_addr(self) -> str:
        """The primary's ``"host:port"`` as this Sentinel currently sees it."""
        with self.client(**PROBE_OPTIONS) as conn:
            host, port = conn.sentinel_get_master_addr_by_name(self.master_name)
        return f"{_text(host)}:{port}"


class SentinelSet(Topology):
    """1 primary + 1 replica + 3 Sentinels (quorum 2) watching master ``mymaster``.

    ``start()`` returns once the replica is in sync and every Sentinel knows the primary,
    the replica and the two other Sentinels, so a failover can start right away.
    ``primary`` and ``replica`` follow failovers that go through ``wait_for_failover``.
    """

    def __init__(self, master_name: str = MASTER_NAME) -> None:
        self._master_name = master_name
        self._dir: Path | None = None
        self._primary: RedisServer | None = None
        self._replica: RedisServer | None = None
        self._sentinels: list[SentinelProcess] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._master_name} {self._dir or 'not started'}>"

    # -- addresses -----------------------------------------------------------------------

    @property
    def master_name(self) -> str:
        return self._master_name

    @property
    def sentinels(self) -> list[SentinelProcess]:
        return list(self._sentinels)

    @property
    def sentinel_addrs(self) -> list[str]:
        return [s.addr for s in self._sentinels]

    @property
    def url(self) -> str:
        return f"redis-sentinel://{','.join(self.sentinel_addrs)}/0?master={self._master_name}"

    @property
    def primary(self) -> RedisServer:
        """The data node currently assigned as primary."""
        if self._primary is None:
            raise BrokerError(f"{self!r} is not started")
        return self._primary

    @property
    def replica(self) -> RedisServer:
        """The data node currently assigned as replica (after a failover: the old primary)."""
        if self._replica is None:
            raise BrokerError(f"{self!r} is not started")
        return self._replica

    def describe(self) -> dict[str, str]:
        return {
            "url": self.url,
            "master name": self._master_name,
            "sentinels": " ".join(self.sentinel_addrs),
            "primary": self.primary.url,
            "replica": self.replica.url,
        }

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the data nodes, then the Sentinels, and wait until all agree on the layout."""
        if self._dir is not None:
            raise BrokerError(f"{self!r} is already started")
        find_redis_server()  # fail before creating anything
        self._dir = Path(tempfile.mkdtemp(prefix="asynq-sentinel-"))
        _reaper.track(self)
        try:
            self._start_data_nodes(self._dir)
            self._start_sentinels(self._dir)
        except BaseException:
            self.stop()
            raise
        log.info("%r ready: %s", self, self.url)

    def stop(self) -> None:
        """Stop Sentinels first (no failover during teardown), then the data nodes."""
        for sentinel in reversed(self._sentinels):
            sentinel.stop()
        for node in (self._replica, self._primary):
            if node is not None:
                node.stop()
        self._sentinels = []
        self._primary = self._replica = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        _reaper.untrack(self)

    def logs(self, lines: int = 40) -> str:
        """The last ``lines`` of every process's log, for a test to print when it fails."""
        parts = []
        for process in [self._primary, self._replica, *self._sentinels]:
            if process is not None and process.log_path.exists():
                text = process.log_path.read_text(errors="replace")
                parts.append(f"--- {process!r} ---\n{log_tail(text, lines)}")
        return "\n".join(parts)

    # -- failover ------------------------------------------------------------------------

    def current_primary_addr(self) -> str:
        """The primary's ``"host:port"`` according to the first Sentinel that answers."""
        errors = []
        for sentinel in self._sentinels:
            if not sentinel.is_running:
                continue
            try:
                return sentinel.master_addr()
            except Exception as exc:
                errors.append(f"{sentinel!r}: {exc!r}")
        raise BrokerError(f"no Sentinel of {self!r} answered: {errors}")

    def kill_primary(self) -> str:
        """SIGKILL the node the Sentinels call primary; return its address for wait_for_failover."""
        addr = self.current_primary_addr()
        self._node_at(addr).kill()
        log.info("%r: killed primary %s", self, addr)
        return addr

    def wait_for_failover(self, old_addr: str, timeout: float = FAILOVER_WAIT) -> str:
        """Wait until every running Sentinel names a new primary that reports role:master.

        Returns the new primary's address and swaps ``primary`` and ``replica`` to match.
        """

        def new_primary() -> str | None:
            answers = {s.master_addr() for s in self._sentinels if s.is_running}
            if len(answers) != 1:
                return None
            (addr,) = answers
            if addr == old_addr:
                return None
            with self._node_at(addr).client(**PROBE_OPTIONS) as conn:
                role = conn.info("replication")["role"]
            return addr if role == "master" else None

        addr = wait_until(
            new_primary, timeout=timeout, what=f"{self!r} to fail over from {old_addr}"
        )
        new = self._node_at(addr)
        if new is not self._primary:
            self._primary, self._replica = new, self._primary
        log.info("%r: failed over from %s to %s", self, old_addr, addr)
        return addr

    def rejoin_replica(self, timeout: float = REJOIN_TIMEOUT) -> None:
        """Restart the replica node (after a failover: the old primary) as a replica of the
        primary, and return once it is in sync.

        Sentinel would turn a returning old primary into a replica by itself, but only after
        it has been up for 8 s, and never while a Sentinel is in TILT mode (30 s after its
        timer ran late, as it may on a loaded machine). Like an operator's restart script,
        this points the node at the current primary at once.
        """
        self.replica.restart()
        with self.replica.client(**PROBE_OPTIONS) as conn:
            conn.replicaof(self.primary.host, self.primary.port)
        try:
            wait_until(
                self._replica_in_sync,
                timeout=timeout,
                what=f"{self.replica!r} to sync with {self.primary!r}",
            )
        except TopologyTimeout as exc:
            raise TopologyTimeout(f"{exc}; logs:\n{self.logs()}") from None
        log.info("%r: %r rejoined as a replica", self, self.replica)

    # -- internals -------------------------------------------------------------------------

    def _start_data_nodes(self, directory: Path) -> None:
        self._primary = RedisServer(directory=directory / "primary", name="primary")
        self._primary.start()
        self._replica = RedisServer(
            directory=directory / "replica",
            name="replica",
            config=[f"replicaof {self._primary.host} {self._primary.port}"],
        )
        self._replica.start()
        wait_until(
            self._replica_in_sync,
            timeout=READY_TIMEOUT,
            what=f"{self._replica!r} to sync with {self._primary!r}",
        )

    def _replica_in_sync(self) -> bool:
        with self.replica.client(**PROBE_OPTIONS) as conn:
            return conn.info("replication").get("master_link_status") == "up"

    def _start_sentinels(self, directory: Path) -> None:
        for number in range(1, SENTINEL_COUNT + 1):
            sentinel = SentinelProcess(
                master_name=self._master_name,
                primary_port=self.primary.port,
                directory=directory / f"sentinel-{number}",
                name=f"sentinel-{number}",
            )
            self._sentinels.append(sentinel)
            sentinel.start()
        wait_until(
            lambda: all(self._sentinel_ready(s) for s in self._sentinels),
            timeout=READY_TIMEOUT,
            what="every Sentinel to know the primary, the replica and the other Sentinels",
        )

    def _sentinel_ready(self, sentinel: SentinelProcess) -> bool:
        if sentinel.master_addr() != self.primary.addr:
            return False
        with sentinel.client(**PROBE_OPTIONS) as conn:
            master = conn.sentinel_master(self._master_name)
            replicas = conn.sentinel_slaves(self._master_name)
        replica_ok = any(
            f"{r['ip']}:{r['port']}" == self.replica.addr
            and not (r["is_sdown"] or r["is_disconnected"])
            and r.get("master-link-status") == "ok"
            for r in replicas
        )
        return replica_ok and master["num-other-sentinels"] == SENTINEL_COUNT - 1

    def _node_at(self, addr: str) -> RedisServer:
        for node in (self._primary, self._replica):
            if node is not None and node.addr == addr:
                return node
        raise BrokerError(f"{addr} is not a data node of {self!r}")


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
