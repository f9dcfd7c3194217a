"""The syncer: retries outcome writes that failed because the broker was unreachable."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from asynq._loop import PeriodicComponent
from asynq.clock import Clock
from asynq.errors import AsynqError, BrokerConnectionError


class Syncer(PeriodicComponent):
    """Keeps failed writes and tries them every ``interval`` until they succeed.

    A write is given up once its task's lease has expired: by then the recoverer has
    taken the task back, and it runs again (at-least-once), so nothing is lost.
    """

    def __init__(self, *, interval: float, clock: Clock, logger: logging.Logger) -> None:
        self._clock = clock
        self._logger = logger
        self._pending: list[tuple[Callable[[], object], float]] = []
        self._lock = threading.Lock()
        super().__init__("syncer", interval, self.flush, logger)

    def defer(self, write: Callable[[], object], until: float) -> None:
        with self._lock:
            self._pending.append((write, until))

    def stop(self) -> None:
        """Stop the loop after a last attempt at every pending write."""
        self._loop.stop()
        self._loop.run_once()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        keep = []
        for write, until in pending:
            if self._clock.now() > until:
                self._logger.warning("gave up a deferred write: its lease expired and the task will run again")
                continue
            try:
                write()
            except BrokerConnectionError:
                keep.append((write, until))
        with self._lock:
            self._pending[:0] = keep
        if keep:
            raise AsynqError(f"{len(keep)} deferred write(s) still cannot reach the broker")
