"""Celery adapter (Redis broker, no result backend): task.delay(), worker_main in this process.

Variants: ``threads`` (``--pool threads -c C``, the one-process comparison) and ``prefork``
(``--pool prefork -c C``: C child processes). Both run without gossip, mingle and heartbeat
(worker-to-worker events that a Redis deployment usually turns off; mingle alone waits ~1 s at
start-up). Everything else is Celery's default (prefetch multiplier 4, acks on receipt).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

from celery import Celery

from benchmarks.systems import _harness

app = Celery("bench", broker=_harness.URL)
app.conf.worker_hijack_root_logger = False
app.conf.broker_connection_retry_on_startup = True


@app.task(name="noop", ignore_result=True)
def noop(i: int, sent: float | None = None) -> None:
    _harness.record(i, sent, time.time())


def versions() -> dict[str, str]:
    return {"celery": _harness.version_of("celery"), "kombu": _harness.version_of("kombu")}


@contextlib.contextmanager
def producer() -> Iterator[Any]:
    delay = noop.delay

    def send(i: int, sent: float | None) -> None:
        if sent is None:
            delay(i)
        else:
            delay(i, sent)

    yield send


def run_worker(concurrency: int, variant: str, started: Any) -> None:
    started()
    app.worker_main([
        "worker", f"--pool={variant or 'threads'}", f"--concurrency={concurrency}",
        "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ])


send_many = _harness.no_bulk

if __name__ == "__main__":
    import sys

    _harness.main(sys.modules[__name__])
