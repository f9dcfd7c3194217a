"""A background thread that repeats one step: the shape of every worker component."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class ErrorLog:
    """Logs a repeating error once, then at most every ``every`` seconds, so an outage
    doesn't flood the log, and says when the trouble is over."""

    def __init__(self, logger: logging.Logger, what: str, every: float = 30.0) -> None:
        self._logger = logger
        self._what = what
        self._every = every
        self._failures = 0
        self._last_logged = 0.0

    def failed(self, error: BaseException) -> None:
        self._failures += 1
        now = time.monotonic()
        if self._failures == 1 or now - self._last_logged >= self._every:
            self._last_logged = now
            self._logger.error("%s failed (%d time(s) in a row): %s", self._what, self._failures, error)

    def succeeded(self) -> None:
        if self._failures:
            self._logger.info("%s works again after %d failure(s)", self._what, self._failures)
        self._failures = 0


class PeriodicLoop:
    """Calls ``step`` every ``interval`` seconds on a daemon thread until stopped.

    An exception from ``step`` is logged (rate-limited) and the loop goes on: nothing in a
    background component may take the worker down.
    """

    def __init__(self, name: str, interval: float, step: Callable[[], object], logger: logging.Logger) -> None:
        self.name = name
        self._interval = interval
        self._step = step
        self._errors = ErrorLog(logger, name)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"asynq-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run_once(self) -> None:
        try:
            self._step()
        except Exception as exc:
            self._errors.failed(exc)
        else:
            self._errors.succeeded()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.run_once()
            self._stopping.wait(self._interval)


class PeriodicComponent:
    """Base of the worker components that repeat one step on a thread of their own
    (forwarder, recoverer, janitor, heartbeater, ...): ``start`` and ``stop`` drive the loop."""

    def __init__(self, name: str, interval: float, step: Callable[[], object], logger: logging.Logger) -> None:
        self._loop = PeriodicLoop(name, interval, step, logger)

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()
