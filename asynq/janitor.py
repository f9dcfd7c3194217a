"""The janitor: deletes completed tasks whose retention ended."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from asynq._loop import PeriodicLoop
from asynq.brokers.base import Broker
from asynq.clock import Clock


class Janitor:
    def __init__(self, broker: Broker, queues: Sequence[str], *, interval: float, clock: Clock, logger: logging.Logger) -> None:
        self._broker = broker
        self._queues = list(queues)
        self._clock = clock
        self._loop = PeriodicLoop("janitor", interval, self.sweep, logger)

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def sweep(self) -> int:
        return self._broker.delete_expired_completed(self._queues, now=self._clock.now())
