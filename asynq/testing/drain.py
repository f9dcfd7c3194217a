"""Process tasks synchronously in a test, deterministically and without sleeps."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import attrs

from asynq.brokers.base import Broker
from asynq.clock import Clock
from asynq.config import Config
from asynq.mux import as_handler
from asynq.retry import Outcome, RetryPolicy
from asynq.task import Task
from asynq.testing.clock import FakeClock

LEASE_SECONDS = 30.0


@attrs.frozen
class Processed:
    """One run of one task: what the handler saw, what it raised, where the task went."""

    task: Task
    error: BaseException | None
    outcome: Outcome


class TooManyRuns(AssertionError):
    """``drain`` hit its run limit: a handler keeps producing work, or always fails."""


def drain(
    broker: Broker,
    handler: Any,
    *,
    clock: Clock,
    queues: Sequence[str] | None = None,
    config: Config | None = None,
    advance: bool = True,
    raise_errors: bool = False,
    max_runs: int = 10_000,
) -> list[Processed]:
    """Run every task that is due, one at a time, in this thread, until none is left.

    With ``advance`` and a :class:`FakeClock`, time jumps to each next scheduled or retry
    task, so retries with backoff play out in full at once. The outcome of each run is
    recorded in the broker through the same retry policy a worker uses (``config``'s
    ``retry_delay_func``, ``is_failure`` and ``error_handler``). With ``raise_errors`` the
    first handler error is re-raised after its outcome was recorded.
    """
    handle = as_handler(handler)
    config = config or Config(concurrency=1)
    policy = RetryPolicy(delay=config.retry_delay_func, is_failure=config.is_failure)
    runs: list[Processed] = []
    while True:
        names = list(queues) if queues is not None else broker.queues()
        now = clock.now()
        broker.forward(names, now=now)
        leases = broker.dequeue(names, 1, now=now, lease_until=now + LEASE_SECONDS)
        if not leases:
            due = broker.next_due_at(names)
            if advance and isinstance(clock, FakeClock) and due is not None:
                clock.set(max(due, now))
                continue
            return runs
        if len(runs) >= max_runs:
            raise TooManyRuns(f"drain stopped after {max_runs} runs; is a task failing forever?")
        (lease,) = leases
        task = Task._running(
            lease.message,
            deadline=0,
            cancelled=threading.Event(),
            result_writer=lambda data, lease=lease: broker.write_result(lease, data),
        )
        error: BaseException | None = None
        try:
            handle(task)
        except Exception as exc:
            error = exc
            if config.error_handler is not None:
                config.error_handler(task, exc)
        outcome = policy.settle(broker, lease, task, error, now=clock.now())
        runs.append(Processed(task, error, outcome))
        if raise_errors and error is not None:
            raise error
