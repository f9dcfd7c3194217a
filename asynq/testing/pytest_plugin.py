"""pytest fixtures for applications that use asynq; loaded automatically with asynq.

The package registers this module under the ``pytest11`` entry point, so any test can ask for
the fixtures without a conftest::

    from asynq.testing import Outcome, drain

    def test_signup_sends_welcome_email(asynq_client, asynq_broker, asynq_clock):
        signup(asynq_client, user_id=42)
        runs = drain(asynq_broker, mux, clock=asynq_clock)
        assert [(r.task.type, r.outcome) for r in runs] == [("email:welcome", Outcome.SUCCEEDED)]

Each test gets its own clock, broker and client: nothing is shared between tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asynq.brokers.memory import MemoryBroker
from asynq.client import Client
from asynq.testing.clock import FakeClock


@pytest.fixture
def asynq_clock() -> FakeClock:
    """A fake clock at 2027-01-15 08:00 UTC, fixed until the test advances it."""
    return FakeClock()


@pytest.fixture
def asynq_broker() -> Iterator[MemoryBroker]:
    """An empty in-memory broker of the test's own (its own fakeredis server)."""
    broker = MemoryBroker()
    yield broker
    broker.close()


@pytest.fixture
def asynq_client(asynq_broker: MemoryBroker, asynq_clock: FakeClock) -> Client:
    """A client on ``asynq_broker`` that reads the time from ``asynq_clock``."""
    return Client(asynq_broker, clock=asynq_clock)
