"""The recoverer: brings back tasks whose worker died or lost contact."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs

from asynq._loop import PeriodicComponent
from asynq.brokers.base import Broker
from asynq.clock import Clock
from asynq.errors import AsynqError
from asynq.retry import Outcome, RetryPolicy
from asynq.task import Task


class LeaseExpired(AsynqError):
    """The worker running the task stopped renewing its lease (it crashed or lost Redis)."""


class Recoverer(PeriodicComponent):
    """Every ``interval``: retries (or archives, if out of retries) tasks whose lease expired.

    It also gives an expired lease to any active task that has none, so no task can stay
    in ``active`` forever. The move is guarded: a lease renewed meanwhile is left alone.
    """

    def __init__(
        self,
        broker: Broker,
        queues: Sequence[str],
        policy: RetryPolicy,
        *,
        interval: float,
        clock: Clock,
        logger: logging.Logger,
    ) -> None:
        self._broker = broker
        self._queues = list(queues)
        # The crash was the worker's, not the task's: run it again at once instead of after a
        # backoff. It still counts as a failed attempt, so a task that kills its worker every
        # time ends in the archive after max_retry attempts.
        self._policy = attrs.evolve(policy, delay=_at_once)
        self._clock = clock
        self._logger = logger
        super().__init__("recoverer", interval, self.recover, logger)

    def recover(self) -> int:
        now = self._clock.now()
        self._broker.reconcile_active(self._queues, now=now)
        recovered = 0
        for lease in self._broker.expired_leases(self._queues, now=now):
            msg = lease.message
            try:
                task = Task._from_message(msg)
            except Exception as exc:  # a blank type...: archive it, or it would block every later lease
                self._logger.error("archiving task %s of queue %s: corrupt task message: %s", msg.id, msg.queue, exc)
                corrupt = attrs.evolve(msg, error_msg=f"corrupt task message: {exc}")
                self._broker.archive(lease, corrupt, now=now, only_if_expired=True)
                continue
            outcome = self._policy.settle(
                self._broker, lease, task, LeaseExpired("asynq: task lease expired"), now=now, only_if_expired=True
            )
            if outcome is not Outcome.LEASE_LOST:
                recovered += 1
                self._logger.warning("recovered task %s of queue %s after its lease expired: %s", msg.id, msg.queue, outcome.value)
        return recovered


def _at_once(n: int, error: BaseException, task: Task) -> float:
    return 0.0
