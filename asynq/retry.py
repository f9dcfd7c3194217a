"""What happens to a task after its handler ran: the retry policy."""

from __future__ import annotations

import datetime as dt
import enum
import logging
import random
from collections.abc import Callable

import attrs

from asynq.brokers.base import Broker, Lease
from asynq.task import Task

logger = logging.getLogger("asynq")

RetryDelayFunc = Callable[[int, BaseException, Task], "float | dt.timedelta"]
"""``(retry_count, error, task) -> delay``: seconds or a timedelta before the next attempt."""


class SkipRetry(Exception):
    """Raise from a handler to archive the task now, without further retries."""


class RevokeTask(Exception):
    """Raise from a handler to drop the task: neither retried nor archived, counted as processed."""


def default_retry_delay(n: int, error: BaseException, task: Task, *, rng: random.Random | None = None) -> float:
    """Go asynq's backoff: ``n**4 + 15 + random(0..29) * (n + 1)`` seconds for the n-th retry.

    ``rng`` replaces the module's random generator, for repeatable delays in tests.
    """
    return n**4 + 15 + (rng or random).randrange(30) * (n + 1)


def always_failure(error: BaseException) -> bool:
    return True


class Outcome(enum.Enum):
    """Where a task went after its run."""

    SUCCEEDED = "succeeded"
    REVOKED = "revoked"
    RETRIED = "retried"
    ARCHIVED = "archived"
    LEASE_LOST = "lease lost"
    """Another worker owns the task now; nothing was written."""


def describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@attrs.frozen
class RetryPolicy:
    """Decides and records the fate of a finished run, in one broker call."""

    delay: RetryDelayFunc = default_retry_delay
    is_failure: Callable[[BaseException], bool] = always_failure

    def settle(
        self, broker: Broker, lease: Lease, task: Task, error: BaseException | None, *, now: float,
        only_if_expired: bool = False,
    ) -> Outcome:
        """Record the run's result: success when ``error`` is None, else retry or archive."""
        if error is None:
            return Outcome.SUCCEEDED if broker.succeed(lease, now=now) else Outcome.LEASE_LOST
        if isinstance(error, RevokeTask):
            # Dropped outright: deleted as if done, even when the task asked for retention.
            revoked = attrs.evolve(lease, message=attrs.evolve(lease.message, retention=0))
            return Outcome.REVOKED if broker.succeed(revoked, now=now) else Outcome.LEASE_LOST
        msg = lease.message
        failure = self._is_failure(error, task)
        failed = attrs.evolve(msg, error_msg=describe(error), last_failed_at=int(now))
        if isinstance(error, SkipRetry) or (failure and msg.retried >= msg.retry):
            # As in Go asynq, archiving doesn't count a retry: `retried` says how many were made.
            held = broker.archive(lease, failed, now=now, only_if_expired=only_if_expired)
            return Outcome.ARCHIVED if held else Outcome.LEASE_LOST
        updated = attrs.evolve(failed, retried=msg.retried + 1) if failure else failed
        retry_at = now + self._delay_seconds(msg.retried, error, task)
        held = broker.retry(
            lease, updated, retry_at=retry_at, is_failure=failure, now=now, only_if_expired=only_if_expired
        )
        return Outcome.RETRIED if held else Outcome.LEASE_LOST

    def _is_failure(self, error: BaseException, task: Task) -> bool:
        try:
            return bool(self.is_failure(error))
        except Exception:
            # A broken is_failure must not leave the task stuck in active; count it a failure.
            logger.exception("is_failure failed for task %s; counting the error as a failure", task.id)
            return True

    def _delay_seconds(self, n: int, error: BaseException, task: Task) -> float:
        try:
            delay = self.delay(n, error, task)
            return delay.total_seconds() if isinstance(delay, dt.timedelta) else float(delay)
        except Exception:
            # A broken delay function must not lose the task; fall back to the default.
            logger.exception("retry_delay_func failed for task %s; using the default delay", task.id)
            return default_retry_delay(n, error, task)
