"""The Lua scripts, one file per state change, called by SHA.

redis-py's own Script objects check SCRIPT EXISTS before every pipeline, an extra round trip
per call; we load the scripts once and reload them only when Redis answers NOSCRIPT (after a
restart or a failover to a server that never saw them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.cluster import ClusterPipeline

_SCRIPT_DIR = resources.files("asynq.brokers.redis") / "scripts"

# Lua has no include: shared functions live in _*.lua preludes prepended to the scripts that
# use them. _lease.lua fences taking a task out of "active"; _succeed.lua finishes tasks;
# _dequeue.lua leases pending ones; _archive_trim.lua trims the archive; _bulk.lua walks one
# task or a batch for the inspector's run/archive/delete.
_PRELUDES = {
    "dequeue": ["_dequeue"],
    "succeed": ["_lease", "_succeed"],
    "succeed_and_dequeue": ["_lease", "_succeed", "_dequeue"],
    "requeue": ["_lease"],
    "retry": ["_lease"],
    "archive": ["_lease", "_archive_trim"],
    "run_tasks": ["_bulk"],
    "archive_tasks": ["_bulk", "_archive_trim"],
    "delete_tasks": ["_bulk"],
}


def _source(name: str) -> str:
    parts = [*_PRELUDES.get(name, []), name]
    return "".join((_SCRIPT_DIR / f"{part}.lua").read_text() for part in parts)


_SOURCES = {
    path.name.removesuffix(".lua"): _source(path.name.removesuffix(".lua"))
    for path in _SCRIPT_DIR.iterdir()
    if path.name.endswith(".lua") and not path.name.startswith("_")
}
_SHAS = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in _SOURCES.items()}


def call(target: Any, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """Run script ``name`` on a client or queue it on a pipeline."""
    # Not ``target.evalsha``: redis-py's ClusterPipeline blocks that method (redis-py#2914).
    options: dict[str, Any] = {}
    if isinstance(target, ClusterPipeline) and keys:
        # All of a script's keys share one queue's hash tag, so the first key names the node.
        # Left to itself, a ClusterPipeline asks a server (COMMAND GETKEYS, one round trip per
        # script) where EVALSHA's keys are, and never recovers if that server is the one that
        # died. A MOVED reply still re-routes the command by its slot.
        options["target_nodes"] = target.get_node_from_key(keys[0])
    return target.execute_command(*command(name, keys, args), **options)


def command(name: str, keys: Sequence[str], args: Sequence[Any]) -> tuple[Any, ...]:
    """The ``EVALSHA`` command running script ``name``."""
    return ("EVALSHA", _SHAS[name], len(keys), *keys, *args)


def load_all(client: Any) -> None:
    """Load every script (on every primary, for a cluster client)."""
    for src in _SOURCES.values():
        client.script_load(src)
