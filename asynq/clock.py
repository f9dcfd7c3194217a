"""Where asynq reads the time. Brokers never read it themselves, so tests can drive it."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Unix time in seconds."""


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()
