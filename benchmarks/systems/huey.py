"""Huey adapter (RedisHuey): calling the task enqueues it; consumer -w C -k thread in this process.

``huey.create_consumer(workers=C, worker_type="thread").run()`` is what ``huey_consumer -w C -k
thread`` runs. Defaults otherwise (blocking BRPOP storage, periodic scheduler on).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

from huey import RedisHuey

from benchmarks.systems import _harness

huey = RedisHuey("bench", url=_harness.URL)


@huey.task(name="noop")
def noop(i: int, sent: float | None = None) -> None:
    _harness.record(i, sent, time.time())


def versions() -> dict[str, str]:
    return {"huey": _harness.version_of("huey")}


@contextlib.contextmanager
def producer() -> Iterator[Any]:
    def send(i: int, sent: float | None) -> None:
        if sent is None:
            noop(i)
        else:
            noop(i, sent)

    yield send


def run_worker(concurrency: int, variant: str, started: Any) -> None:
    started()
    consumer = huey.create_consumer(workers=concurrency, worker_type="thread")
    consumer.run()  # until SIGTERM (huey: immediate stop) or SIGINT (graceful)


send_many = _harness.no_bulk

if __name__ == "__main__":
    import sys

    _harness.main(sys.modules[__name__])
