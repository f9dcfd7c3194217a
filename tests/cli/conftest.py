"""Fixtures of the command-line tests; the helpers are in cli_world.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_world import Cli, World, build_world


@pytest.fixture
def cli(redis_url: str) -> Cli:
    return Cli(redis_url)


@pytest.fixture
def world(redis_url: str) -> Iterator[World]:
    """A world of one's own, for a test that changes it."""
    yield from build_world(redis_url)
