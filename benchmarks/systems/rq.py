"""RQ adapter: Queue.enqueue(), Worker / SimpleWorker.work() in this process.

RQ runs one job at a time per worker process, so the concurrency argument is ignored. The
default ``Worker`` forks a fresh "work horse" process for every job; ``SimpleWorker``
(variant ``simple``) runs jobs in the worker process itself.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

import redis
from rq import Queue, SimpleWorker, Worker

from benchmarks.systems import _harness

FUNC = "benchmarks.systems.rq.noop"  # the worker imports the job function by this path


def noop(i: int, sent: float | None = None) -> None:
    _harness.record(i, sent, time.time())


def versions() -> dict[str, str]:
    return {"rq": _harness.version_of("rq")}


@contextlib.contextmanager
def producer() -> Iterator[Any]:
    queue = Queue(connection=redis.Redis.from_url(_harness.URL))
    enqueue = queue.enqueue

    def send(i: int, sent: float | None) -> None:
        if sent is None:
            enqueue(FUNC, i)
        else:
            enqueue(FUNC, i, sent)

    yield send


def run_worker(concurrency: int, variant: str, started: Any) -> None:
    started()
    connection = redis.Redis.from_url(_harness.URL)
    cls = SimpleWorker if variant == "simple" else Worker
    worker = cls([Queue(connection=connection)], connection=connection)
    worker.work(logging_level="WARNING")  # until SIGTERM: warm shutdown


send_many = _harness.no_bulk

if __name__ == "__main__":
    import sys

    _harness.main(sys.modules[__name__])
