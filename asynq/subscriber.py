"""The subscriber: hands cancellations and wake-ups from the broker to the processor."""

from __future__ import annotations

import logging
import threading

from asynq._loop import ErrorLog
from asynq.brokers.base import Broker, NoticeKind, Subscription
from asynq.processor import Processor

_POLL = 0.1
"""Seconds between checks for shutdown while no notice arrives (waiting on the socket costs
no round trip, so a short poll only makes ``stop`` prompt)."""
_RETRY_PAUSE = 1.0
"""Seconds between attempts to resubscribe while the broker is unreachable."""


class Subscriber:
    def __init__(self, broker: Broker, processor: Processor, *, logger: logging.Logger) -> None:
        self._broker = broker
        self._processor = processor
        self._errors = ErrorLog(logger, "listening for cancellations and wake-ups")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="asynq-subscriber", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        subscription: Subscription | None = None
        while not self._stopping.is_set():
            try:
                if subscription is None:
                    subscription = self._broker.subscribe()
                    # Work may have arrived while we were not listening.
                    self._processor.wake()
                notice = subscription.get(_POLL)
            except Exception as exc:
                self._errors.failed(exc)
                _close_quietly(subscription)
                subscription = None
                self._stopping.wait(_RETRY_PAUSE)
                continue
            self._errors.succeeded()
            if notice is None:
                continue
            if notice.kind is NoticeKind.CANCEL:
                self._processor.cancel(notice.value)
            else:
                self._processor.wake()
        _close_quietly(subscription)


def _close_quietly(subscription: Subscription | None) -> None:
    if subscription is None:
        return
    try:
        subscription.close()
    except Exception:  # noqa: BLE001 - a broken connection is being dropped anyway
        pass
