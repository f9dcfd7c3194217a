"""The forwarder: moves due scheduled and retry tasks to pending."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from asynq._loop import PeriodicComponent
from asynq.brokers.base import Broker
from asynq.clock import Clock


class Forwarder(PeriodicComponent):
    """Every ``interval``, makes due scheduled and retry tasks of ``queues`` pending."""

    def __init__(self, broker: Broker, queues: Sequence[str], *, interval: float, clock: Clock, logger: logging.Logger) -> None:
        self._broker = broker
        self._queues = list(queues)
        self._clock = clock
        super().__init__("forwarder", interval, self.forward, logger)

    def forward(self) -> int:
        return self._broker.forward(self._queues, now=self._clock.now())
