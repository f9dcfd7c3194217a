"""FakeClock: time that moves only when a test says so."""

from __future__ import annotations

import datetime as dt
import threading

from asynq import _validate

DEFAULT_START = 1_800_000_000.0
"""2027-01-15, a fixed instant so test output is reproducible."""


class FakeClock:
    """A clock for tests: ``now()`` returns the same time until ``advance`` or ``set``."""

    def __init__(self, start: _validate.When = DEFAULT_START) -> None:
        self._now = _validate.timestamp("start", start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, by: _validate.Seconds) -> None:
        """Move time forward by ``by`` seconds (or a timedelta)."""
        step = _validate.seconds("by", by)
        with self._lock:
            self._now += step

    def set(self, when: _validate.When) -> None:
        """Jump to ``when``; time never goes backwards."""
        target = _validate.timestamp("when", when)
        with self._lock:
            if target < self._now:
                raise ValueError("a FakeClock never goes backwards")
            self._now = target

    def datetime(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now(), dt.timezone.utc)
