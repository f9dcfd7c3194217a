"""Runnable local Redis topologies on loopback ports, for tests, CI, examples and benchmarks.

Each topology is a context manager that starts ``redis-server`` processes in a temporary
directory and removes everything on exit::

    with RedisServer() as server:          # standalone
        use(server.url)
    with SentinelSet() as sentinels:       # primary + replica + 3 Sentinels
        use(sentinels.url)
    with ClusterSet() as cluster:          # Redis Cluster: 3 primaries + 3 replicas
        use(cluster.url)

``python -m brokers standalone|sentinel|cluster`` runs one until Ctrl-C. See README.md.
"""

from .cluster import ClusterNodeProcess, ClusterSet
from .errors import BrokerError, RedisServerNotFound, StartupError, TopologyTimeout
from .sentinel import SentinelProcess, SentinelSet
from .server import RedisServer, find_redis_server
from .topology import Topology

__all__ = [
    "BrokerError",
    "ClusterNodeProcess",
    "ClusterSet",
    "RedisServer",
    "RedisServerNotFound",
    "SentinelProcess",
    "SentinelSet",
    "StartupError",
    "Topology",
    "TopologyTimeout",
    "find_redis_server",
]
