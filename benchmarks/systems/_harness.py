"""What every adapter shares: the command line, the task bookkeeping and the JSON-lines output.

An adapter (``benchmarks/systems/<name>.py``) runs with its own system's virtualenv python, as
``python -m benchmarks.systems.<name> OPERATION`` from the repository root. It only imports the
standard library, redis-py (every system under test depends on it) and its own task queue, and
tells this module how to drive that queue:

``versions()``
    a dict of package versions to report;
``producer()``
    a context manager yielding ``send(i, sent)`` that enqueues one no-op task with payload
    ``(i, sent)`` by ONE call of the library's ordinary enqueue API (``sent`` is None for
    throughput tasks, the producer's ``time.time()`` for latency samples). Async libraries
    yield an ``async def send``;
``send_many(n, batch)``
    optional: enqueue tasks 0..n-1 in batches with the library's bulk API;
``run_worker(concurrency, variant, started)``
    run the library's worker in THIS process until SIGTERM. Call ``started()`` after the
    imports and module-level app definitions, before the worker object is even constructed:
    that instant is "worker start", and everything after it counts.

The no-op task of every system calls :func:`record` (or :func:`record_async`) with its payload
and the time it started. That is the only instrumentation, identical for every system:

- throughput task (``sent`` is None): one ``write`` of the line ``"<i> <now>"`` to the ledger
  file ``BENCH_LEDGER``, opened for appending (one append is atomic, so threads, processes and
  forked children share it). No Redis command and no round trip: the runner watches the file;
- latency sample: ``RPUSH bench:started "<i> <sent> <start>"`` (the producer waits on it).

Every result goes to stdout as one line ``@@bench {json}``; other output is the library's.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import sys
import threading
import time
from typing import Any, Callable

import redis

MARK = "@@bench "
STARTED = "bench:started"

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6399/0")
LEDGER = os.environ.get("BENCH_LEDGER", "")


def emit(**obj: Any) -> None:
    sys.stdout.write(MARK + json.dumps(obj) + "\n")
    sys.stdout.flush()


# -- bookkeeping done by the no-op task ---------------------------------------------------------

# A new connection must cost no command, so that a system that opens one per task (RQ's work
# horse is a fresh fork each time) is not charged for ours: RESP2 (no HELLO, which redis-py 8
# sends by default) and no CLIENT SETINFO (which redis-py >= 5 sends unless told not to).
# No socket timeout: redis-py 8 defaults to 5 s, shorter than the BLPOPs waiting for a start.
_CLIENT_OPTIONS: dict[str, Any] = {"socket_timeout": None}
for _option in ({"protocol": 2}, {"lib_name": None, "lib_version": None}):
    try:
        redis.Redis(**_option)
    except TypeError:
        continue
    _CLIENT_OPTIONS.update(_option)

_client: redis.Redis | None = None
_ledger: int | None = None
_lock = threading.Lock()


def client() -> redis.Redis:
    """This process's Redis client for latency samples (redis-py reconnects after a fork)."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = redis.Redis.from_url(URL, **_CLIENT_OPTIONS)
    return _client


def ledger() -> int:
    """This process's descriptor of the ledger file (a forked child inherits it)."""
    global _ledger
    if _ledger is None:
        if not LEDGER:
            raise RuntimeError("BENCH_LEDGER is not set: the runner names the ledger file")
        with _lock:
            if _ledger is None:
                _ledger = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    return _ledger


def record(i: int, sent: float | None, start: float) -> None:
    """Called first thing by every system's no-op task (threads, processes)."""
    if sent is not None:
        client().rpush(STARTED, f"{i} {sent!r} {start!r}")
        return
    os.write(ledger(), f"{i} {time.time()!r}\n".encode())


_aclient: Any = None


async def record_async(i: int, sent: float | None, start: float) -> None:
    """The same through redis.asyncio, for asyncio systems (the ledger write does not block)."""
    global _aclient
    if sent is None:
        record(i, sent, start)
        return
    import redis.asyncio as aioredis

    if _aclient is None:
        _aclient = aioredis.Redis.from_url(URL, **_CLIENT_OPTIONS)
    await _aclient.rpush(STARTED, f"{i} {sent!r} {start!r}")


# -- operations ---------------------------------------------------------------------------------

def _send_range(send: Any, lo: int, hi: int) -> float:
    """Send tasks lo..hi-1, one call each; the seconds it took."""
    if inspect.iscoroutinefunction(send):
        async def loop() -> float:
            start = time.perf_counter()
            for i in range(lo, hi):
                await send(i, None)
            return time.perf_counter() - start

        return float(run_async(loop()))
    start = time.perf_counter()
    for i in range(lo, hi):
        send(i, None)
    return time.perf_counter() - start


def _enqueue(adapter: Any, n: int) -> None:
    with adapter.producer() as send:
        seconds = _send_range(send, 0, n)
    emit(op="enqueue", n=n, seconds=seconds)


def _enqueue_turns(adapter: Any, burst: int) -> None:
    """Send ``burst`` tasks each time the runner writes a line to stdin, until it closes stdin.

    The runner hands the turn from one system's producer to the next (run.py's
    ``enqueue_turns``), so that every system meets the machine's fast and slow moments alike.
    """
    with adapter.producer() as send:
        emit(op="ready")
        sent, seconds = 0, 0.0
        while sys.stdin.readline():
            seconds += _send_range(send, sent, sent + burst)
            sent += burst
            emit(op="turn")
    emit(op="enqueue", n=sent, seconds=seconds)


def _enqueue_many(adapter: Any, n: int, batch: int) -> None:
    seconds = adapter.send_many(n, batch)
    emit(op="enqueue_many", n=n, batch=batch, seconds=seconds)


def _latency(adapter: Any, samples: int, gap: float, budget: float, timeout: float, startup: float) -> None:
    """Send tasks one at a time, each after the previous one started; report start - sent."""
    r = redis.Redis.from_url(URL, **_CLIENT_OPTIONS)
    r.delete(STARTED)
    latencies: list[float] = []

    def wait_for(i: int, limit: float) -> float:
        item = r.blpop([STARTED], timeout=limit)
        if item is None:
            raise TimeoutError(f"task {i} did not start within {limit:g} s")
        got, sent_s, start_s = item[1].decode().split()
        if int(got) != i:
            raise RuntimeError(f"expected the start of task {i}, got {got}")
        return float(start_s) - float(sent_s)

    with adapter.producer() as send:
        is_async = inspect.iscoroutinefunction(send)

        def call(i: int) -> None:
            if is_async:
                run_async(send(i, time.time()))
            else:
                send(i, time.time())

        call(-1)  # warm-up: the worker is up and connected once this one has started
        wait_for(-1, startup)
        deadline = time.monotonic() + budget
        for i in range(samples):
            if time.monotonic() > deadline:
                break
            call(i)
            latencies.append(wait_for(i, timeout))
            time.sleep(gap)
    emit(op="latency", samples=len(latencies), latencies_ms=[x * 1000 for x in latencies])


def _worker(adapter: Any, concurrency: int, variant: str) -> None:
    def started() -> None:
        emit(op="worker_start", t=time.time(), pid=os.getpid())

    adapter.run_worker(concurrency, variant, started)
    emit(op="worker_exit", t=time.time())


def main(adapter: Any) -> None:
    """Command line of an adapter module (``adapter`` is the module itself)."""
    parser = argparse.ArgumentParser(prog=f"python -m {adapter.__spec__.name}")
    sub = parser.add_subparsers(dest="op", required=True)
    sub.add_parser("version")
    p = sub.add_parser("enqueue")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--many", action="store_true", help="use the bulk API (send_many)")
    p.add_argument("--batch", type=int, default=1000)
    p = sub.add_parser("enqueue-turns", help="send --burst tasks per line read from stdin")
    p.add_argument("--burst", type=int, required=True)
    p = sub.add_parser("worker")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--variant", default="")
    p = sub.add_parser("latency")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--gap", type=float, default=0.002, help="seconds between a start and the next send")
    p.add_argument("--budget", type=float, default=60.0, help="stop sending after this many seconds")
    p.add_argument("--timeout", type=float, default=30.0, help="longest wait for one start")
    p.add_argument("--startup", type=float, default=60.0, help="longest wait for the warm-up task")
    args = parser.parse_args()
    if args.op == "version":
        emit(op="version", python=sys.version.split()[0], redis_py=redis.__version__,
             hiredis=_has_hiredis(), **adapter.versions())
    elif args.op == "enqueue":
        if args.many:
            _enqueue_many(adapter, args.n, args.batch)
        else:
            _enqueue(adapter, args.n)
    elif args.op == "enqueue-turns":
        _enqueue_turns(adapter, args.burst)
    elif args.op == "worker":
        _worker(adapter, args.concurrency, args.variant)
    elif args.op == "latency":
        _latency(adapter, args.samples, args.gap, args.budget, args.timeout, args.startup)


def _has_hiredis() -> bool:
    try:
        import hiredis  # noqa: F401
    except ImportError:
        return False
    return True


def run_async(coro: Any) -> Any:
    """Run ``coro`` on this process's one event loop (kept so async clients stay connected)."""
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coro)


_loop: asyncio.AbstractEventLoop | None = None


def no_bulk(n: int, batch: int) -> float:
    raise SystemExit("this system has no bulk enqueue in the benchmark")


def version_of(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


Send = Callable[[int, "float | None"], Any]
