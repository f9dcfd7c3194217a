"""arq adapter (asyncio): await pool.enqueue_job(), Worker(max_jobs=C).run() in this process.

Defaults otherwise (poll_delay 0.5 s, results kept 1 h). The no-op job records through
redis.asyncio (the same commands as every other system's task, without blocking the loop).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

from benchmarks.systems import _harness


async def noop(ctx: Any, i: int, sent: float | None = None) -> None:
    await _harness.record_async(i, sent, time.time())


noop.__qualname__ = noop.__name__ = "noop"


def versions() -> dict[str, str]:
    return {"arq": _harness.version_of("arq")}


@contextlib.contextmanager
def producer() -> Iterator[Any]:
    pool = _harness.run_async(create_pool(RedisSettings.from_dsn(_harness.URL)))
    enqueue_job = pool.enqueue_job

    async def send(i: int, sent: float | None) -> None:
        if sent is None:
            await enqueue_job("noop", i)
        else:
            await enqueue_job("noop", i, sent)

    try:
        yield send
    finally:
        _harness.run_async(pool.aclose())


def run_worker(concurrency: int, variant: str, started: Any) -> None:
    started()
    worker = Worker(functions=[noop], redis_settings=RedisSettings.from_dsn(_harness.URL), max_jobs=concurrency)
    worker.run()  # until SIGTERM / SIGINT


send_many = _harness.no_bulk

if __name__ == "__main__":
    import sys

    _harness.main(sys.modules[__name__])
