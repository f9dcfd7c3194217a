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

_SCRIPT_DIR = resources.files("asynq.brokers.redis") / "scripts"
_LEASE_PRELUDE = (_SCRIPT_DIR / "_lease.lua").read_text()

# Scripts that take a task out of "active" share the fenced release in _lease.lua.
_NEEDS_LEASE_PRELUDE = {"succeed", "requeue", "retry", "archive"}


def _source(name: str) -> str:
    body = (_SCRIPT_DIR / f"{name}.lua").read_text()
    return _LEASE_PRELUDE + body if name in _NEEDS_LEASE_PRELUDE else body


_SOURCES = {
    path.name.removesuffix(".lua"): _source(path.name.removesuffix(".lua"))
    for path in _SCRIPT_DIR.iterdir()
    if path.name.endswith(".lua") and not path.name.startswith("_")
}
_SHAS = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in _SOURCES.items()}


def call(target: Any, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """Run script ``name`` on a client or queue it on a pipeline."""
    return target.evalsha(_SHAS[name], len(keys), *keys, *args)


def load_all(client: Any) -> None:
    """Load every script (on every primary, for a cluster client)."""
    for src in _SOURCES.values():
        client.script_load(src)
