"""asynq adapter: Client.enqueue / enqueue_many, Background(Config(concurrency=C)).run()."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Iterator

if os.environ.get("BENCH_ASYNQ_SRC"):  # benchmark another checkout (run.py --asynq-src)
    sys.path.insert(0, os.environ["BENCH_ASYNQ_SRC"])

import asynq  # noqa: E402

from benchmarks.systems import _harness  # noqa: E402

QUEUE = "default"


def versions() -> dict[str, str]:
    return {"asynq": _harness.version_of("asynq-py")}


def _task(i: int, sent: float | None) -> asynq.Task:
    return asynq.Task("noop", {"i": i} if sent is None else {"i": i, "sent": sent})


@contextlib.contextmanager
def producer() -> Iterator[Any]:
    with asynq.Client(_harness.URL) as client:
        enqueue = client.enqueue

        def send(i: int, sent: float | None) -> None:
            enqueue(_task(i, sent), queue=QUEUE)

        yield send


def send_many(n: int, batch: int) -> float:
    with asynq.Client(_harness.URL) as client:
        start = time.perf_counter()
        for lo in range(0, n, batch):
            client.enqueue_many([_task(i, None) for i in range(lo, min(n, lo + batch))], queue=QUEUE)
        return time.perf_counter() - start


def handler(task: asynq.Task) -> None:
    start = time.time()
    payload = task.payload
    sent = payload.get_float("sent") if payload.has("sent") else None
    _harness.record(payload.get_int("i"), sent, start)


def run_worker(concurrency: int, variant: str, started: Any) -> None:
    started()
    bg = asynq.Background(_harness.URL, asynq.Config(concurrency=concurrency, queues={QUEUE: 1}))
    bg.run(handler)  # until SIGTERM: graceful shutdown


if __name__ == "__main__":
    _harness.main(sys.modules[__name__])
