"""Process tasks synchronously in a test, deterministically and without sleeps.

:func:`drain` plays the worker's part in a unit test: it takes one due task at a time, runs
the handler in the calling thread and records the outcome through the same retry policy and
broker operations a :class:`~asynq.Background` worker uses. With a :class:`FakeClock` it jumps
time to the next scheduled or retry task, so a whole retry sequence plays out in one call.
"""

from __future__ import annotations

import functools
import math
import random
import threading
from collections import Counter
from collections.abc import Sequence

import attrs

from asynq import codecs
from asynq.brokers.base import Broker, Lease
from asynq.clock import Clock
from asynq.config import Config
from asynq.mux import Handler, HandlerFunc, as_handler
from asynq.processor import DeadlineExceeded, TaskCanceled
from asynq.retry import Outcome, RetryDelayFunc, RetryPolicy, RevokeTask, default_retry_delay
from asynq.task import Task
from asynq.testing.clock import FakeClock

__all__ = ["Processed", "TooManyRuns", "drain"]

DEFAULT_MAX_RUNS = 1_000
"""Enough for any sane unit test (40 tasks retried 25 times); a runaway loop fails in about two seconds."""


@attrs.frozen(eq=False)
class Processed:
    """One run of one task: what the handler saw, what it raised, where the task went."""

    task: Task
    """The task as the handler saw it (``id``, ``queue``, ``retry_count``, ``deadline``...)."""
    error: BaseException | None
    """What the run failed with, or None. ``DeadlineExceeded`` if it ran past its deadline."""
    outcome: Outcome
    """Where the task went: SUCCEEDED, RETRIED, ARCHIVED or REVOKED."""
    started_at: float
    """The clock's time (unix seconds) when the run started."""
    result: bytes | None = None
    """The last data the handler stored with ``task.write_result``, if any."""

    def __repr__(self) -> str:
        error = "" if self.error is None else f", error={self.error!r}"
        return (
            f"<Processed {self.task.type!r} id={self.task.id!r} retry_count={self.task.retry_count} "
            f"{self.outcome.name}{error} at={self.started_at!r}>"
        )


class TooManyRuns(AssertionError):
    """``drain`` hit its run limit while work was still due.

    A handler keeps producing work (re-enqueues itself), or ``max_runs`` is too low. ``runs``
    holds the runs made before stopping; the task that would have run next is back in its queue.
    """

    def __init__(self, runs: list[Processed], max_runs: int) -> None:
        counts = Counter(r.task.type for r in runs).most_common(3)
        busiest = ", ".join(f"{t!r} ran {n} times" for t, n in counts)
        super().__init__(
            f"drain stopped after {max_runs} runs with work still due ({busiest}); does a handler "
            f"enqueue work forever? Pass a larger max_runs if this much work is expected"
        )
        self.runs = runs


def drain(
    broker: Broker,
    handler: Handler | HandlerFunc,
    *,
    clock: Clock,
    queues: Sequence[str] | None = None,
    config: Config | None = None,
    advance: bool = True,
    raise_errors: bool = False,
    max_runs: int = DEFAULT_MAX_RUNS,
) -> list[Processed]:
    """Run every task that is due, one at a time, in this thread, until none is left.

    ``handler`` is anything a worker accepts (a function, a ``ServeMux``, an object with
    ``process_task``). ``clock`` must be the clock the client enqueued with. Tasks come from
    ``queues``, or from every queue the broker knows, tried in name order; tasks that a
    handler enqueues while draining are run too. Returns the runs, in order.

    With ``advance`` and a :class:`FakeClock`, when nothing is due the clock jumps to the next
    scheduled or retry task, so retries play out in full; with ``advance=False`` tasks due
    later are left where they are. The outcome of each run is recorded in the broker through
    the worker's retry policy, using ``config``'s ``retry_delay_func``, ``is_failure``,
    ``error_handler`` and ``lease_duration``. The default retry delay is Go asynq's formula with
    its random part drawn from a generator seeded afresh by each call, so runs repeat exactly.

    As in a worker, a run fails with ``DeadlineExceeded`` when the clock passed the task's
    deadline (from its ``timeout`` or ``deadline``) by the time the handler returned; a task
    whose deadline passed before it started fails so without calling the handler.

    With ``raise_errors`` the first handler error (``RevokeTask`` excepted) is re-raised, after
    its outcome was recorded. An exception from ``config.error_handler`` is always re-raised.
    More than ``max_runs`` runs raise :class:`TooManyRuns`.
    """
    if isinstance(queues, str):
        raise TypeError(f"queues must be a sequence of queue names, got the string {queues!r}; use [{queues!r}]")
    handle = as_handler(handler)
    config = config if config is not None else Config(concurrency=1)
    delay: RetryDelayFunc = config.retry_delay_func
    if delay is default_retry_delay:
        delay = functools.partial(default_retry_delay, rng=random.Random(0))
    policy = RetryPolicy(delay=delay, is_failure=config.is_failure)
    runs: list[Processed] = []
    while True:
        names = list(queues) if queues is not None else broker.queues()
        now = clock.now()
        # What the worker's forwarder and janitor would have done by now.
        broker.forward(names, now=now)
        broker.delete_expired_completed(names, now=now)
        leases = broker.dequeue(names, 1, now=now, lease_until=now + config.lease_duration)
        if not leases:
            due = broker.next_due_at(names)
            if advance and isinstance(clock, FakeClock) and due is not None and due > now:
                clock.set(due)
                continue
            return runs
        (lease,) = leases
        if len(runs) >= max_runs:
            broker.requeue(lease, now=now)
            raise TooManyRuns(runs, max_runs)
        run, report_error = _run(broker, handle, lease, clock, config, policy)
        runs.append(run)
        if report_error is not None:
            raise report_error from run.error
        if raise_errors and run.error is not None and not isinstance(run.error, RevokeTask):
            raise run.error


def _run(
    broker: Broker, handle: HandlerFunc, lease: Lease, clock: Clock, config: Config, policy: RetryPolicy
) -> tuple[Processed, Exception | None]:
    """Run one leased task and record its outcome; also return an error_handler's exception."""
    msg = lease.message
    started_at = clock.now()
    limits = [started_at + msg.timeout if msg.timeout else 0, msg.deadline]
    deadline = min((t for t in limits if t), default=math.inf)
    results: list[bytes] = []

    def write_result(data: bytes) -> None:
        if not broker.write_result(lease, data):
            raise TaskCanceled(f"task {msg.id} lost its lease; the result was not stored")
        results.append(data)

    task = Task._running(
        msg,
        deadline=0 if deadline == math.inf else deadline,
        cancelled=_DeadlineFlag(clock, deadline),
        result_writer=write_result,
    )
    error: BaseException | None = None
    if started_at < deadline:
        try:
            codecs.open_payload(task, config.signing_key)
            handle(task)
        except Exception as exc:  # what a worker catches (BaseException aside: let Ctrl-C through)
            error = exc
    if clock.now() >= deadline:
        # A worker's watchdog would have failed the run at its deadline, whatever came after.
        error = DeadlineExceeded(f"task {msg.id} passed its deadline")
    report_error: Exception | None = None
    if error is not None:
        config.logger.info("task %s (%s) failed: %s", msg.id, msg.type, error)
        if config.error_handler is not None:
            try:
                config.error_handler(task, error)
            except Exception as exc:  # a worker logs it; a test should see it
                report_error = exc
    outcome = policy.settle(broker, lease, task, error, now=clock.now())
    return Processed(task, error, outcome, started_at, results[-1] if results else None), report_error


class _DeadlineFlag(threading.Event):
    """A task's cancellation flag that is also set once the clock reaches its deadline.

    A worker's watchdog sets the flag at the deadline; here time moves only when the test (or
    the handler) moves the clock, so the flag reads the clock instead.
    """

    def __init__(self, clock: Clock, deadline: float) -> None:
        super().__init__()
        self._clock = clock
        self._deadline = deadline

    def is_set(self) -> bool:
        return super().is_set() or self._clock.now() >= self._deadline

