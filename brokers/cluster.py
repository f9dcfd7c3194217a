"""ClusterSet: a Redis Cluster of 3 primaries and 3 replicas on loopback ports.

The cluster is built with CLUSTER commands (ADDSLOTSRANGE, MEET, REPLICATE) rather than
``redis-cli --cluster create``, so that every node can put its cluster bus on a port of its
own (``cluster-port``, Redis >= 7): the default bus port, port + 10000, is not checked by
``free_port()`` and does not exist for ports above 55535.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

from . import _reaper
from ._ports import free_port
from ._wait import wait_until
from .errors import BrokerError
from .server import PROBE_OPTIONS, RedisServer, find_redis_server
from .topology import Topology

log = logging.getLogger(__name__)

T = TypeVar("T")

SLOTS = 16384
PRIMARY_COUNT = 3
REPLICAS_PER_PRIMARY = 1
NODE_TIMEOUT_MS = 2000
"""A primary unreachable this long is suspected down; its replica takes over soon after.
Redis' default (15 s) is for production; 2 s keeps a failover test short without
mistaking a busy test machine for a dead node."""
READY_TIMEOUT = 30.0
FAILOVER_WAIT = 30.0


class ClusterNodeProcess(RedisServer):
    """``redis-server`` with ``cluster-enabled yes`` and its bus on a free port of its own."""

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str],
        name: str,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
    ) -> None:
        super().__init__(directory=directory, name=name)
        self._node_timeout_ms = node_timeout_ms
        self._bus_port: int | None = None

    @property
    def bus_port(self) -> int:
        if self._bus_port is None:
            raise BrokerError(f"{self!r} has no bus port: it was never started")
        return self._bus_port

    def _config_lines(self) -> list[str]:
        # Called again on every start attempt, so a bus port taken in the meantime is
        # replaced together with the client port ("Address already in use" -> retry).
        self._bus_port = free_port()
        while self._bus_port == self.port:
            self._bus_port = free_port()
        return super()._config_lines() + [
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            f"cluster-port {self._bus_port}",
            f"cluster-node-timeout {self._node_timeout_ms}",
            # a replica may always take over, however long its link was down (tests kill nodes)
            "cluster-replica-validity-factor 0",
        ]

    def node_id(self) -> str:
        with self.client(**PROBE_OPTIONS) as conn:
            return _text(conn.execute_command("CLUSTER", "MYID"))

    def cluster_info(self) -> dict[str, str]:
        with self.client(**PROBE_OPTIONS) as conn:
            raw = _text(conn.execute_command("CLUSTER", "INFO"))
        return dict(line.split(":", 1) for line in raw.split() if ":" in line)

    def cluster_nodes(self) -> list[dict[str, str]]:
        """This node's view of the cluster: one dict per line of CLUSTER NODES."""
        with self.client(**PROBE_OPTIONS) as conn:
            return _parse_cluster_nodes(conn.execute_command("CLUSTER", "NODES"))


class ClusterSet(Topology):
    """3 primaries (slots split evenly) with one replica each, all on 127.0.0.1.

    ``start()`` returns once every node reports ``cluster_state:ok`` with all 16384 slots
    served, knows all six nodes, and every replica is in sync with its primary. Roles are
    read from the cluster when asked (``primaries()``, ``replicas()``), so they stay right
    after a failover. ``url`` names the nodes that were primaries at start; a client
    discovers the current layout from any of them.
    """

    def __init__(
        self,
        primaries: int = PRIMARY_COUNT,
        replicas_per_primary: int = REPLICAS_PER_PRIMARY,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
    ) -> None:
        if primaries < 1 or replicas_per_primary < 0:
            raise ValueError("a cluster needs at least one primary and no negative replica count")
        self._primary_count = primaries
        self._replicas_per_primary = replicas_per_primary
        self._node_timeout_ms = node_timeout_ms
        self._dir: Path | None = None
        self._nodes: list[ClusterNodeProcess] = []
        self._seeds: list[ClusterNodeProcess] = []
        self._killed: dict[str, tuple[str, str]] = {}
        """addr -> (node ID, slots) of the nodes killed through kill()."""
        self._probes: dict[str, redis.Redis] = {}
        """addr -> a client kept open for the frequent calls (flushall before every test)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._dir or 'not started'}>"

    # -- addresses -----------------------------------------------------------------------

    @property
    def nodes(self) -> list[ClusterNodeProcess]:
        """Every node, the initial primaries first."""
        return list(self._nodes)

    @property
    def addrs(self) -> list[str]:
        """``"127.0.0.1:PORT"`` of the nodes that were primaries at start (the seed nodes)."""
        if not self._seeds:
            raise BrokerError(f"{self!r} is not started")
        return [node.addr for node in self._seeds]

    @property
    def url(self) -> str:
        return f"redis-cluster://{','.join(self.addrs)}"

    def describe(self) -> dict[str, str]:
        return {
            "url": self.url,
            "primaries": " ".join(node.addr for node in self.primaries()),
            "replicas": " ".join(node.addr for node in self.replicas()),
        }

    def client(self, **options: Any) -> RedisCluster:
        """A redis-py cluster client on this cluster; ``options`` go to ``RedisCluster``."""
        nodes = [ClusterNode(n.host, n.port) for n in self._nodes if n.is_running]
        return RedisCluster(startup_nodes=nodes, **options)

    # -- roles, read from the cluster ------------------------------------------------------

    def primaries(self) -> list[ClusterNodeProcess]:
        """The nodes that currently serve slots, in slot order."""
        view = self._view()
        serving = sorted(
            (n for n in view if "master" in n["flags"] and "fail" not in n["flags"] and n["slots"]),
            key=lambda n: _first_slot(n["slots"]),
        )
        return [self._node_at(n["addr"]) for n in serving]

    def replicas(self) -> list[ClusterNodeProcess]:
        """The nodes that currently replicate a primary."""
        return [
            self._node_at(n["addr"])
            for n in self._view()
            if "slave" in n["flags"] and "fail" not in n["flags"]
        ]

    def primary_for_key(self, key: str | bytes) -> ClusterNodeProcess:
        """The node currently serving ``key``'s slot."""
        slot = self.keyslot(key)
        for n in self._view():
            if "master" in n["flags"] and "fail" not in n["flags"] and _serves(n["slots"], slot):
                return self._node_at(n["addr"])
        raise BrokerError(f"no primary of {self!r} serves slot {slot}")

    @staticmethod
    def keyslot(key: str | bytes) -> int:
        """The cluster slot of ``key`` (its hash tag's, if it has one)."""
        return int(key_slot(key.encode() if isinstance(key, str) else key))

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the nodes, assign the slots, join them, attach replicas and wait until ready."""
        if self._dir is not None:
            raise BrokerError(f"{self!r} is already started")
        find_redis_server()  # fail before creating anything
        self._dir = Path(tempfile.mkdtemp(prefix="asynq-cluster-"))
        _reaper.track(self)
        try:
            self._start_nodes(self._dir)
            self._form_cluster()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        log.info("%r ready: %s", self, self.url)

    def stop(self) -> None:
        """Stop every node and remove the directory. Idempotent."""
        for probe in self._probes.values():
            probe.close()
        self._probes = {}
        for node in reversed(self._nodes):
            node.stop()
        self._nodes = []
        self._seeds = []
        self._killed = {}
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        _reaper.untrack(self)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until every running node sees a healthy, fully covered, agreed cluster."""
        wait_until(
            self._ready,
            timeout=timeout,
            what=f"{self!r}: cluster_state:ok, all slots served and replicas in sync on every node",
        )

    def flushall(self, timeout: float = READY_TIMEOUT) -> None:
        """Empty the database of every node that is a primary by its own account (ROLE), and
        wait until every running node, replicas included, holds no key.

        Not by one node's CLUSTER NODES: right after a failed-over primary restarts, the view
        it gives can be stale. And not done at the flush: a replica still loading its full
        sync answers SCAN with the keys it had, and a cluster client may scan it.
        """
        running = [node for node in self._nodes if node.is_running]
        for node in running:
            self._on(node, _flush_if_primary)
        wait_until(
            lambda: all(self._on(node, lambda conn: conn.dbsize()) == 0 for node in running),
            timeout=timeout,
            what=f"{self!r}: every node empty after FLUSHALL",
        )

    # -- failover ------------------------------------------------------------------------

    def failover(self, primary: ClusterNodeProcess, timeout: float = FAILOVER_WAIT) -> ClusterNodeProcess:
        """Hand ``primary``'s slots to its replica with CLUSTER FAILOVER (no data lost).

        Returns the promoted node once the whole cluster agrees and is ready again.
        """
        primary_id = primary.node_id()
        candidates = [
            self._node_at(n["addr"])
            for n in self._view()
            if "slave" in n["flags"] and n["master"] == primary_id and "fail" not in n["flags"]
        ]
        if not candidates:
            raise BrokerError(f"{primary!r} has no replica to fail over to")
        promoted = candidates[0]
        with promoted.client(**PROBE_OPTIONS) as conn:
            conn.execute_command("CLUSTER", "FAILOVER")

        def swapped() -> bool:
            roles = {n["addr"]: n["flags"] for n in promoted.cluster_nodes()}
            return "master" in roles[promoted.addr] and "slave" in roles[primary.addr]

        wait_until(swapped, timeout=timeout, what=f"{promoted!r} to take over from {primary!r}")
        self.wait_ready(timeout)
        log.info("%r: failed over from %s to %s", self, primary.addr, promoted.addr)
        return promoted

    def kill(self, node: ClusterNodeProcess) -> None:
        """SIGKILL ``node`` (a crash). For a primary, ``wait_for_failover(node)`` then waits
        for its replica to take over; ``restart(node)`` brings it back as a replica."""
        entry = next(n for n in self._view() if n["addr"] == node.addr)
        self._killed[node.addr] = (entry["id"], entry["slots"])
        node.kill()
        log.info("%r: killed %s (%s)", self, node.addr, entry["flags"])

    def wait_for_failover(self, old: ClusterNodeProcess, timeout: float = FAILOVER_WAIT) -> ClusterNodeProcess:
        """After ``kill(old)`` of a primary: wait until another node serves its slots and every
        running node reports ``cluster_state:ok``; return the node that took over.

        It takes ``node_timeout_ms`` to suspect the primary, then an election of about a second.
        """
        if old.addr not in self._killed:
            raise BrokerError(f"{old!r} was not killed through {self!r}.kill()")
        old_id, old_slots = self._killed[old.addr]
        if not old_slots:
            raise BrokerError(f"{old!r} served no slots when it was killed")
        slot = _first_slot(old_slots)

        def taken_over() -> ClusterNodeProcess | None:
            for n in self._view():
                if n["id"] != old_id and "master" in n["flags"] and "fail" not in n["flags"]:
                    if _serves(n["slots"], slot):
                        return self._node_at(n["addr"])
            return None

        node = wait_until(taken_over, timeout=timeout, what=f"a replica of {old!r} to take over")
        wait_until(
            lambda: all(n.cluster_info().get("cluster_state") == "ok" for n in self._nodes if n.is_running),
            timeout=timeout,
            what=f"{self!r} to be ok again after {old!r} failed",
        )
        log.info("%r: %s failed, %s took over", self, old.addr, node.addr)
        return node

    def restart(self, node: ClusterNodeProcess, timeout: float = READY_TIMEOUT) -> None:
        """Start a killed or stopped node again (same port, directory and node ID) and wait
        until the cluster is whole: a failed-over primary rejoins as a replica."""
        node.restart()
        self._killed.pop(node.addr, None)
        self.wait_ready(timeout)

    # -- internals -------------------------------------------------------------------------

    def _start_nodes(self, directory: Path) -> None:
        total = self._primary_count * (1 + self._replicas_per_primary)
        for number in range(1, total + 1):
            node = ClusterNodeProcess(
                directory=directory / f"node-{number}",
                name=f"cluster-{number}",
                node_timeout_ms=self._node_timeout_ms,
            )
            self._nodes.append(node)
            node.start()
        self._seeds = self._nodes[: self._primary_count]

    def _form_cluster(self) -> None:
        primaries = self._seeds
        ids = {node.addr: node.node_id() for node in self._nodes}
        # Slots first: a node that already serves slots when it meets the others announces
        # them at once. Distinct config epochs avoid a round of epoch-collision resolution.
        for index, node in enumerate(primaries):
            low = index * SLOTS // len(primaries)
            high = (index + 1) * SLOTS // len(primaries) - 1
            with node.client(**PROBE_OPTIONS) as conn:
                conn.execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
                conn.execute_command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
        first = self._nodes[0]
        with first.client(**PROBE_OPTIONS) as conn:
            for node in self._nodes[1:]:
                conn.execute_command("CLUSTER", "MEET", node.host, node.port, node.bus_port)
        wait_until(
            lambda: all(self._knows_everyone(node) for node in self._nodes),
            timeout=READY_TIMEOUT,
            what=f"{self!r}: every node to know the other {len(self._nodes) - 1}",
        )
        replicas = self._nodes[len(primaries) :]
        for index, node in enumerate(replicas):
            primary = primaries[index % len(primaries)]
            with node.client(**PROBE_OPTIONS) as conn:
                conn.execute_command("CLUSTER", "REPLICATE", ids[primary.addr])

    def _knows_everyone(self, node: ClusterNodeProcess) -> bool:
        view = node.cluster_nodes()
        return len(view) == len(self._nodes) and all(
            n["link"] == "connected" and "handshake" not in n["flags"] and "noaddr" not in n["flags"]
            for n in view
        )

    def _ready(self) -> bool:
        running = [node for node in self._nodes if node.is_running]
        for node in running:
            info = node.cluster_info()
            if (
                info.get("cluster_state") != "ok"
                or info.get("cluster_slots_ok") != str(SLOTS)
                or info.get("cluster_size") != str(self._primary_count)
            ):
                return False
            view = node.cluster_nodes()
            masters = [n for n in view if "master" in n["flags"] and n["slots"]]
            if len(masters) != self._primary_count or any("fail" in n["flags"] for n in masters):
                return False
            live_replicas = [n for n in view if "slave" in n["flags"] and "fail" not in n["flags"]]
            if len(live_replicas) < len(running) - self._primary_count:
                return False
        for node in self.replicas():
            if not node.is_running:
                continue
            with node.client(**PROBE_OPTIONS) as conn:
                if conn.info("replication").get("master_link_status") != "up":
                    return False
        return True

    def _view(self) -> list[dict[str, str]]:
        """CLUSTER NODES from the first running node that answers."""
        errors = []
        for node in self._nodes:
            if not node.is_running:
                continue
            try:
                return _parse_cluster_nodes(self._on(node, lambda conn: conn.execute_command("CLUSTER", "NODES")))
            except (redis.RedisError, OSError) as exc:
                errors.append(f"{node!r}: {exc!r}")
        raise BrokerError(f"no node of {self!r} answered: {errors}")

    def _on(self, node: ClusterNodeProcess, command: Callable[[redis.Redis], T]) -> T:
        """Run ``command`` on the kept-open client of ``node``; after a connection error (the
        node was restarted since), once more on a new connection."""
        try:
            return command(self._probe(node))
        except (redis.ConnectionError, redis.TimeoutError):
            self._probes.pop(node.addr).close()
            return command(self._probe(node))

    def _probe(self, node: ClusterNodeProcess) -> redis.Redis:
        if node.addr not in self._probes:
            self._probes[node.addr] = node.client(**PROBE_OPTIONS)
        return self._probes[node.addr]

    def _node_at(self, addr: str) -> ClusterNodeProcess:
        for node in self._nodes:
            if node.addr == addr:
                return node
        raise BrokerError(f"{addr} is not a node of {self!r}")


def _parse_cluster_nodes(raw: str | bytes) -> list[dict[str, str]]:
    nodes = []
    for line in _text(raw).splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        nodes.append(
            {
                "id": fields[0],
                "addr": fields[1].split("@")[0],
                "flags": fields[2],
                "master": fields[3],
                "link": fields[7],
                "slots": " ".join(fields[8:]),
            }
        )
    return nodes


def _first_slot(slots: str) -> int:
    return int(slots.split()[0].split("-")[0]) if slots else SLOTS


def _serves(slots: str, slot: int) -> bool:
    for part in slots.split():
        if part.startswith("["):  # a slot being migrated or imported
            continue
        low, _, high = part.partition("-")
        if int(low) <= slot <= int(high or low):
            return True
    return False


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _flush_if_primary(conn: redis.Redis) -> None:
    if _text(conn.execute_command("ROLE")[0]) == "master":
        conn.flushall()
