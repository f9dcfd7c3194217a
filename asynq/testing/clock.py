"""FakeClock: time that moves only when a test says so."""

from __future__ import annotations

import datetime as dt
import threading

from asynq import _validate

DEFAULT_START = 1_800_000_000.0
"""2027-01-15 08:00:00 UTC, a fixed instant so test output is reproducible."""


class FakeClock:
    """A clock for tests: ``now()`` returns the same time until ``advance`` or ``set``.

    Give it to a :class:`~asynq.Client` (``Client(broker, clock=clock)``) and to
    :func:`~asynq.testing.drain`. ``start`` is a datetime or unix seconds.
    """

    def __init__(self, start: _validate.When = DEFAULT_START) -> None:
        self._now = _validate.timestamp("start", start)
        self._lock = threading.Lock()

    def now(self) -> float:
        """The current fake time, in unix seconds."""
        with self._lock:
            return self._now

    def advance(self, by: _validate.Seconds) -> float:
        """Move time forward by ``by`` seconds (or a timedelta); return the new time."""
        step = _validate.seconds("by", by)
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: _validate.When) -> None:
        """Jump to ``when`` (a datetime or unix seconds); time never goes backwards."""
        target = _validate.timestamp("when", when)
        with self._lock:
            if target < self._now:
                raise ValueError(f"a FakeClock never goes backwards: {target!r} is before {self._now!r}")
            self._now = target

    def datetime(self) -> dt.datetime:
        """The current fake time as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self.now(), dt.timezone.utc)

    def __repr__(self) -> str:
        return f"<FakeClock {self.datetime().isoformat()}>"
