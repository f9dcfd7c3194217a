"""Dramatiq adapter (RedisBroker): actor.send(), one Worker(worker_threads=C) in this process.

That is what ``dramatiq --processes 1 --threads C`` runs in its one worker process, without the
supervisor process the command line adds. Defaults otherwise (prefetch, middleware).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Any, Iterator

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benchmarks.systems import _harness

broker = RedisBroker(url=_harness.URL)
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="noop", max_retries=0)
def noop(i: int, sent: float | None = None) -> None:
    _harness.record(i, sent, time.time())


def versions() -> dict[str, str]:
    return {"dramatiq": _harness.version_of("dramatiq")}


@contextlib.contextmanager
def producer() -> Iterator[Any]:
    send_message = noop.send

    def send(i: int, sent: float | None) -> None:
        if sent is None:
            send_message(i)
        else:
            send_message(i, sent)

    yield send


def run_worker(concurrency: int, variant: str, started: Any) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    started()
    worker = dramatiq.Worker(broker, worker_threads=concurrency)
    worker.start()
    while not stop.wait(0.5):
        pass
    worker.stop()
    broker.close()


send_many = _harness.no_bulk

if __name__ == "__main__":
    import sys

    _harness.main(sys.modules[__name__])
