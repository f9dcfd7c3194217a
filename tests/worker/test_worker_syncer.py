"""The syncer: outcome writes that fail because the broker is unreachable are retried."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

import asynq
from asynq.brokers import open_broker
from asynq.brokers.base import Broker, Lease
from asynq.brokers.redis import keys
from worker_support import Env, wait_until


class FlakyBroker:
    """Wraps a real broker (Redis or memory): its completion writes (``succeed``, and the
    batched ``succeed_many`` where the broker has it) raise BrokerConnectionError while
    ``should_fail(lease, attempt)`` says so, as if Redis were unreachable for that write."""

    def __init__(self, url: str, should_fail: Callable[[Lease, int], bool]) -> None:
        self.broker: Broker
        self.broker, _ = open_broker(url)
        self.calls: list[str] = []
        self._lock = threading.Lock()
        inside = threading.local()  # succeed may call succeed_many: count each write once

        def flaky(real: Callable[..., Any], many: bool) -> Callable[..., Any]:
            def write(leases: Any, *, now: float) -> Any:
                if getattr(inside, "active", False):
                    return real(leases, now=now)
                inside.active = True
                try:
                    for lease in leases if many else [leases]:
                        with self._lock:
                            self.calls.append(lease.message.id)
                            attempt = len(self.calls)
                        if should_fail(lease, attempt):
                            raise asynq.BrokerConnectionError(
                                self.broker.address, ConnectionError("connection refused (simulated)")
                            )
                    return real(leases, now=now)
                finally:
                    inside.active = False

            return write

        # A delegate that is still the real broker in every other respect.
        self.broker.succeed = flaky(self.broker.succeed, many=False)  # type: ignore[method-assign]
        if hasattr(self.broker, "succeed_many"):
            self.broker.succeed_many = flaky(self.broker.succeed_many, many=True)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.broker.close()


@pytest.fixture
def make_flaky(env: Env) -> Callable[[Callable[[Lease, int], bool]], FlakyBroker]:
    def make(should_fail: Callable[[Lease, int], bool]) -> FlakyBroker:
        flaky = FlakyBroker(env.url, should_fail)
        env.add_cleanup(flaky.close)  # after the worker using it is shut down
        return flaky

    return make


def _no_crash(records: list[logging.LogRecord]) -> None:
    crashes = [r for r in records if r.exc_info or "Traceback" in r.getMessage()]
    assert not crashes, [r.getMessage() for r in crashes]


def test_failed_completion_write_is_retried_until_it_succeeds(
    env: Env, make_flaky: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asynq")
    flaky = make_flaky(lambda lease, attempt: attempt <= 2)
    runs: list[str] = []
    info = env.client.enqueue(asynq.Task("t"))
    env.start(runs.append, broker=flaky.broker, sync_interval=0.1)
    wait_until(lambda: env.processed() == 1, what="the completion to be written")
    assert flaky.calls == [info.id] * 3  # two failed attempts, then the one that worked
    assert [t.id for t in runs] == [info.id]  # processed exactly once
    assert not env.exists("default", info.id)
    assert env.ids(keys.active("default")) == [] and env.ids(keys.lease("default")) == []
    # The worker goes on working.
    nxt = env.client.enqueue(asynq.Task("t"))
    wait_until(lambda: env.processed() == 2)
    assert [t.id for t in runs] == [info.id, nxt.id]
    assert env.processed() == 2 and env.failed() == 0
    _no_crash(caplog.records)
    assert any("will retry" in r.getMessage() for r in caplog.records)


def test_deferred_write_is_given_up_after_the_lease_expires_and_the_task_runs_again(
    env: Env, make_flaky: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asynq")
    # The first run's completion can never be written; later runs' can.
    flaky = make_flaky(lambda lease, attempt: lease.message.retried == 0)
    runs: list[int] = []
    info = env.client.enqueue(asynq.Task("t"))
    env.start(lambda t: runs.append(t.retry_count), broker=flaky.broker, sync_interval=0.1,
              lease_duration=0.5, heartbeat_interval=0.1, recover_interval=0.1,
              retry_delay_func=lambda n, exc, task: 0)
    wait_until(lambda: runs == [0, 1] and env.processed() == 2, what="the task to run again and complete")
    assert not env.exists("default", info.id)
    assert env.failed() == 1, [r.getMessage() for r in caplog.records]  # the lease expiry
    wait_until(lambda: any("gave up a deferred write" in r.getMessage() for r in caplog.records))
    _no_crash(caplog.records)
