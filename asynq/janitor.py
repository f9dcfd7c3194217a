"""The janitor: deletes completed tasks whose retention ended."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from asynq._loop import PeriodicComponent
from asynq.brokers.base import Broker
from asynq.clock import Clock


class Janitor(PeriodicComponent):
    """Every ``interval``, deletes the completed tasks of ``queues`` whose retention ended."""

    def __init__(self, broker: Broker, queues: Sequence[str], *, interval: float, clock: Clock, logger: logging.Logger) -> None:
        self._broker = broker
        self._queues = list(queues)
        self._clock = clock
        super().__init__("janitor", interval, self.sweep, logger)

    def sweep(self) -> int:
        return self._broker.delete_expired_completed(self._queues, now=self._clock.now())
