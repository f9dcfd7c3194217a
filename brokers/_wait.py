"""Deadline-based polling: wait for a condition instead of sleeping a fixed time."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from redis.exceptions import RedisError

from .errors import TopologyTimeout

T = TypeVar("T")

POLL_INTERVAL = 0.05


def wait_until(condition: Callable[[], T], *, timeout: float, what: str) -> T:
    """Call ``condition`` until it returns a truthy value and return that value.

    Redis and socket errors count as "not yet" (a process that is starting or failing over
    refuses connections for a while); the last one is quoted if the deadline passes, so a
    timeout says why the condition never held.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = condition()
        except (RedisError, OSError) as exc:
            last_error = exc
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            reason = f" (last error: {last_error!r})" if last_error else ""
            raise TopologyTimeout(f"timed out after {timeout:g}s waiting for {what}{reason}")
        time.sleep(POLL_INTERVAL)
