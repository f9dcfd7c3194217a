"""Helpers shared by the test folders (importable as ``testkit``: tests/ is on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

QUICK_WORKER: dict[str, Any] = dict(
    concurrency=2,
    shutdown_timeout=2.0,
    lease_duration=5.0,
    heartbeat_interval=0.2,
    forward_interval=0.1,
    recover_interval=0.2,
    janitor_interval=0.2,
    sync_interval=0.1,
    idle_poll_interval=0.1,
    health_check_interval=0.1,
)
"""Config values that keep a worker test fast; a test overrides what it exercises."""


def wait_until(predicate: Callable[[], T], timeout: float = 5.0, what: str = "", interval: float = 0.01) -> T:
    """Return the first truthy value of ``predicate()``; fail the test after ``timeout`` s.

    The sleep is a poll interval only: the deadline bounds the wait, nothing relies on timing.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)
