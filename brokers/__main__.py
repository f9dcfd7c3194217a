"""``python -m brokers <topology>``: run a local topology until Ctrl-C, printing its URLs."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType
from typing import Callable

from .cluster import ClusterSet
from .errors import BrokerError
from .sentinel import SentinelSet
from .server import RedisServer
from .topology import Topology

# Name on the command line -> factory. A new topology (e.g. "cluster") adds one entry.
TOPOLOGIES: dict[str, Callable[[], Topology]] = {
    "standalone": RedisServer,
    "sentinel": SentinelSet,
    "cluster": ClusterSet,
}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Stop cleanly on SIGTERM as on Ctrl-C (also when run in the background, where the
    shell may have set SIGINT to be ignored)."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brokers",
        description="Run a local Redis topology on loopback ports until Ctrl-C.",
    )
    parser.add_argument("topology", choices=sorted(TOPOLOGIES))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)

    topology = TOPOLOGIES[args.topology]()
    try:
        with topology:
            for key, value in topology.describe().items():
                print(f"{key}: {value}", flush=True)
            print("press Ctrl-C to stop", flush=True)
            while True:
                signal.pause()
    except KeyboardInterrupt:
        return 0
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
