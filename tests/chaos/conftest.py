"""Fixtures for the chaos tests: worker processes that are always killed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos_support import WorkerFleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[WorkerFleet]:
    """Start worker processes; every one still running at the end of the test is killed."""
    workers = WorkerFleet(tmp_path)
    try:
        yield workers
    finally:
        workers.cleanup()
