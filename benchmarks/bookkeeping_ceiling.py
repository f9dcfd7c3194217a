"""The ceiling the benchmark's own bookkeeping puts on any threaded worker's processing rate.

    .venv/bin/python benchmarks/bookkeeping_ceiling.py [--tasks 20000] [--threads 1,2,8] [--repeat 3]

Every system's no-op task in benchmarks/run.py makes one redis-py round trip of bookkeeping
(``benchmarks/systems/_harness.record``). Here ``--threads`` threads of one process make only
those calls, N in all, against a private ``redis-server`` (from ``brokers``): no queue, no
fetch, no acknowledgement. No worker with that many threads in one process can process no-op
tasks faster than this on the same machine, so it bounds the ratio any system can reach over
another (docs/performance.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from brokers import RedisServer  # noqa: E402


def bookkeeping_rate(url: str, n: int, threads: int) -> float:
    """Tasks per second of ``threads`` threads doing only the bookkeeping of ``n`` tasks."""
    from benchmarks.systems import _harness

    _harness.URL, _harness.TARGET = url, n  # what the adapters read from BENCH_REDIS_URL, BENCH_N
    _harness.client().flushall()
    numbers = iter(range(n))
    take = threading.Lock()

    def work() -> None:
        while True:
            with take:
                i = next(numbers, None)
            if i is None:
                return
            _harness.record(i, None, time.time())

    pool = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--threads", default="1,2,8")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    rates: dict[int, list[float]] = {t: [] for t in counts}
    with RedisServer(name="ceiling") as server:
        for _ in range(args.repeat):
            for t in counts:  # interleaved rounds
                rates[t].append(bookkeeping_rate(server.url, args.tasks, t))
    print("| threads | bookkeeping calls/s (median) | rounds |")
    print("|---:|---:|---|")
    for t in counts:
        print(f"| {t} | {statistics.median(rates[t]):,.0f} | {', '.join(f'{r:,.0f}' for r in rates[t])} |")


if __name__ == "__main__":
    main()
