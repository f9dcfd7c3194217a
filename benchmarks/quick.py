"""Quick benchmark of asynq alone against a private redis-server (no peers).

    .venv/bin/python benchmarks/quick.py [--tasks N] [--concurrency C] [--latency-samples K]

Prints enqueue rates (one call per task, and enqueue_many), the processing rate of N no-op
tasks (from worker start to the last completion) and the idle enqueue-to-start latency.
Run from the repository root. The side-by-side comparison with other task queues is a
separate command (see docs/performance.md when it exists).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asynq  # noqa: E402
from brokers import RedisServer  # noqa: E402


def enqueue_rate(url: str, n: int) -> float:
    with asynq.Client(url) as client:
        task = asynq.Task("noop", {"i": 0})
        start = time.perf_counter()
        for _ in range(n):
            client.enqueue(task, queue="bench-enqueue")
        return n / (time.perf_counter() - start)


def enqueue_many_rate(url: str, n: int, batch: int = 1000) -> float:
    with asynq.Client(url) as client:
        tasks = [asynq.Task("noop", {"i": i}) for i in range(batch)]
        start = time.perf_counter()
        for _ in range(n // batch):
            client.enqueue_many(tasks, queue="bench-many")
        return (n // batch * batch) / (time.perf_counter() - start)


def processing_rate(url: str, n: int, concurrency: int) -> float:
    with asynq.Client(url) as client:
        tasks = [asynq.Task("noop", None) for _ in range(n)]
        for i in range(0, n, 1000):
            client.enqueue_many(tasks[i : i + 1000])
    done = threading.Event()
    count = 0
    lock = threading.Lock()

    def handler(task: asynq.Task) -> None:
        nonlocal count
        with lock:
            count += 1
            if count == n:
                done.set()

    bg = asynq.Background(url, asynq.Config(concurrency=concurrency))
    start = time.perf_counter()
    bg.start(handler)
    if not done.wait(600):
        raise RuntimeError(f"only {count} of {n} tasks processed")
    elapsed = time.perf_counter() - start
    bg.shutdown()
    return n / elapsed


def idle_latency(url: str, samples: int) -> tuple[float, float]:
    started: dict[str, float] = {}
    arrived = threading.Event()

    def handler(task: asynq.Task) -> None:
        started[task.id] = time.perf_counter()
        arrived.set()

    bg = asynq.Background(url, asynq.Config(concurrency=8))
    bg.start(handler)
    latencies = []
    with asynq.Client(url) as client:
        client.enqueue(asynq.Task("warmup"))  # first connections and script loads
        arrived.wait(5)
        for _ in range(samples):
            arrived.clear()
            sent = time.perf_counter()
            info = client.enqueue(asynq.Task("ping"))
            if not arrived.wait(5):
                raise RuntimeError("a task was not started within 5 s")
            latencies.append(started[info.id] - sent)
            time.sleep(0.002)  # let the worker go idle again: this measures the idle path
    bg.shutdown()
    latencies.sort()
    return statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-samples", type=int, default=1000)
    args = parser.parse_args()
    with RedisServer() as server:
        url = server.url
        print(f"enqueue (one call per task): {enqueue_rate(url, min(args.tasks, 10_000)):,.0f} tasks/s")
        print(f"enqueue_many (batches of 1000): {enqueue_many_rate(url, max(args.tasks, 1000) * 2):,.0f} tasks/s")
        print(f"processing, concurrency {args.concurrency}: {processing_rate(url, args.tasks, args.concurrency):,.0f} tasks/s")
        p50, p99 = idle_latency(url, args.latency_samples)
        print(f"idle enqueue-to-start latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
