"""Deep queues: asynq's enqueue and dequeue rates with 1,000,000 tasks pending, against an empty
queue, and the Redis memory a pending task costs (issue 6, item 4).

    .venv/bin/python benchmarks/deep_queue.py [--depth 1000000] [--repeat 5] [--quick]

Runs in this process, with the project's asynq (or ``--asynq-src``), against two private
``redis-server``s from ``brokers`` (free loopback ports, no persistence), started alike: *deep*,
into whose queue ``bench`` ``--depth`` tasks are loaded once by ``enqueue_many`` in batches of
``--batch`` (Redis ``used_memory`` before and after: memory per pending task), and *empty*,
flushed before every measurement. Each round then measures, every pair seconds apart and in
an order rotated each round:

- ``--enqueue`` single ``Client.enqueue`` calls into the empty Redis, into another queue of the
  deep Redis (``other``) and into the deep queue itself;
- ``--many`` tasks by ``enqueue_many`` in batches of ``--batch``, the same three ways;
- ``--process`` tasks processed by a ``Background`` (concurrency 8, no-op handler, in this
  process), timed from just before the ``Background`` is built to the ``--process``-th
  completion: the oldest of the deep queue, or as many loaded into the empty Redis just before.

After each measurement what it added is removed (and what it processed is topped up), so the
deep queue stays at ``--depth``. The first ``enqueue_many`` after the load, which takes the deep
Redis's keyspace past a power of two (its table doubles), is measured once on its own first.
Every task is ``Task("noop", {"i": n})``. Medians and the ratio deep/empty are printed and
written to ``<output>.md``, every number to ``<output>.json``. One more load of ``--depth``
tasks with ``hash-max-listpack-value 128`` gives the memory with that Redis setting
(``--no-listpack`` skips it). See docs/performance.md, "Deep queues".
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import logging
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from brokers import RedisServer  # noqa: E402

asynq: Any = None  # imported by main(), from --asynq-src if given
QUEUE, OTHER = "bench", "other"
CONCURRENCY = 8


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def task(i: int) -> Any:
    return asynq.Task("noop", {"i": i})


def pending_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:pending"


def task_key(queue: str, task_id: str) -> str:
    return f"asynq:{{{queue}}}:t:{task_id}"


class Server:
    """One of the two servers: its URL and a plain redis-py client for the bookkeeping."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.r: Any = redis.Redis.from_url(url, protocol=2, socket_timeout=None)  # untyped replies

    def used_memory(self) -> int:
        return int(self.r.info("memory")["used_memory"])

    def wait_rehash(self, limit: float = 60.0) -> float | None:
        """Wait until db 0's keyspace table is not being rehashed (DEBUG HTSTATS shows one table)."""
        start = time.perf_counter()
        while time.perf_counter() - start < limit:
            try:
                stats = self.r.execute_command("DEBUG", "HTSTATS", "0").decode()
            except redis.ResponseError:  # DEBUG disabled: give the background rehash some time
                time.sleep(5)
                return None
            if stats.count("table size") <= 1:
                return time.perf_counter() - start
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: the keyspace was still being rehashed after {limit:g} s")

    def cpu(self) -> float:
        """CPU seconds the redis-server process has used (user + system, all its threads)."""
        info = self.r.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def reset_stats(self) -> None:
        self.r.config_resetstat()
        self._cpu0 = self.cpu()

    def redis_cost(self, tasks: int) -> dict[str, float]:
        """Since reset_stats, per task: microseconds inside EVALSHA (commandstats; the scripts'
        commands included) and microseconds of the redis-server's CPU (everything it did,
        reading sockets and its background cron included)."""
        stat = self.r.info("commandstats").get("cmdstat_evalsha", {"usec": 0, "calls": 0})
        return {"redis_us_per_task": int(stat["usec"]) / tasks, "script_calls": int(stat["calls"]),
                "redis_cpu_us_per_task": (self.cpu() - self._cpu0) * 1e6 / tasks}

    def remove(self, queue: str, ids: list[str]) -> None:
        """Take back tasks just enqueued into ``queue``: the head of its pending list."""
        popped = self.r.lpop(pending_key(queue), len(ids)) or []
        if {p.decode() for p in popped} != set(ids):
            raise RuntimeError(f"{self.name}: the head of {pending_key(queue)} is not what was just enqueued")
        for lo in range(0, len(ids), 10_000):
            self.r.unlink(*[task_key(queue, i) for i in ids[lo:lo + 10_000]])


# -- measurements ---------------------------------------------------------------------------------

def enqueue_single(url: str, queue: str, n: int) -> tuple[float, list[str]]:
    gc.collect()
    ids = []
    with asynq.Client(url) as client:  # a fresh client: its first connection is in the timing
        enqueue = client.enqueue
        start = time.perf_counter()
        for i in range(n):
            ids.append(enqueue(task(i), queue=queue).id)
        seconds = time.perf_counter() - start
    return n / seconds, ids


def enqueue_many(url: str, queue: str, n: int, batch: int) -> tuple[float, list[str]]:
    gc.collect()
    ids: list[str] = []
    with asynq.Client(url) as client:
        start = time.perf_counter()
        for lo in range(0, n, batch):
            infos = client.enqueue_many([task(i) for i in range(lo, min(n, lo + batch))], queue=queue)
            ids.extend(info.id for info in infos)
        seconds = time.perf_counter() - start
    return n / seconds, ids


def process(url: str, n: int, timeout: float) -> dict[str, float]:
    """Start a Background on QUEUE; time from building it to the n-th completion."""
    lock = threading.Lock()
    finished = threading.Event()
    state = {"done": 0, "end": 0.0, "max_i": -1}

    def handler(t: Any) -> None:
        i = t.payload.get_int("i")
        with lock:
            state["done"] += 1
            if state["done"] <= n and i > state["max_i"]:
                state["max_i"] = i
            if state["done"] == n:
                state["end"] = time.perf_counter()
                finished.set()

    gc.collect()
    start = time.perf_counter()
    bg = asynq.Background(url, asynq.Config(concurrency=CONCURRENCY, queues={QUEUE: 1}))
    bg.start(handler)
    try:
        if not finished.wait(timeout):
            raise RuntimeError(f"only {state['done']} of {n} tasks completed in {timeout:g} s")
    finally:
        bg.shutdown()  # in the deep queue: the few tasks past n are requeued at its tail
    seconds = state["end"] - start
    # max_i: the largest payload number among the first n completions; with the oldest taken
    # first (and the deep queue loaded as 0, 1, 2...) it is n - 1 in the first round.
    return {"rate": n / seconds, "seconds": seconds, "max_i": state["max_i"]}


def load(server: Server, depth: int, batch: int) -> dict[str, Any]:
    """Bulk-load ``depth`` tasks into QUEUE; memory per task and the load rate as it fills."""
    r = server.r
    with asynq.Client(server.url) as client:
        client.broker.ping()  # connected, scripts loaded: not in the memory delta
        gc.collect()
        before = server.used_memory()
        keys_before = r.dbsize()
        segment = max(depth // 10, batch)
        segments: list[tuple[int, float]] = []
        sample: list[str] = []
        start = seg_start = time.perf_counter()
        for lo in range(0, depth, batch):
            hi = min(depth, lo + batch)
            infos = client.enqueue_many([task(i) for i in range(lo, hi)], queue=QUEUE)
            if lo % (depth // 100 or 1) < batch:
                sample.append(infos[0].id)
            if hi % segment == 0 or hi == depth:
                now = time.perf_counter()
                segments.append((hi, (hi - (segments[-1][0] if segments else 0)) / (now - seg_start)))
                seg_start = now
        seconds = time.perf_counter() - start
    after = server.used_memory()
    keys = [task_key(QUEUE, i) for i in sample]
    return {
        "depth": depth,
        "load_rate": depth / seconds,
        "load_rate_by_segment": segments,  # (tasks loaded so far, enqueue_many/s of that segment)
        "used_memory_before": before,
        "used_memory_after": after,
        "used_memory_rss_after": r.info("memory")["used_memory_rss"],
        "bytes_per_task": (after - before) / depth,
        "keys_added": r.dbsize() - keys_before,
        "task_hash_bytes": statistics.median(r.memory_usage(k) for k in keys),  # value + key name + entry
        "task_hash_encoding": r.object("encoding", keys[0]).decode(),
        "msg_bytes": len(r.hget(keys[0], "msg") or b""),
        "list_bytes_per_task": r.memory_usage(pending_key(QUEUE), samples=0) / depth,  # exact
        "pending_length": r.llen(pending_key(QUEUE)),
    }


class Bench:
    def __init__(self, empty: Server, deep: Server, args: argparse.Namespace) -> None:
        self.empty, self.deep, self.args = empty, deep, args

    def enqueue_case(self, kind: str, case: str) -> dict[str, float]:
        a = self.args
        server, queue = (self.empty, QUEUE) if case == "empty" else (self.deep, OTHER if case == "other" else QUEUE)
        if case == "empty":
            server.r.flushall()
        server.reset_stats()
        if kind == "enqueue":
            rate, ids = enqueue_single(server.url, queue, a.enqueue)
        else:
            rate, ids = enqueue_many(server.url, queue, a.many, a.batch)
        cost = server.redis_cost(len(ids))
        server.remove(queue, ids)
        return {"rate": rate, **cost}

    def process_case(self, case: str) -> dict[str, float]:
        a = self.args
        server = self.empty if case == "empty" else self.deep
        if case == "empty":
            self.empty.r.flushall()
            enqueue_many(self.empty.url, QUEUE, a.process, a.batch)
        server.reset_stats()
        result = process(server.url, a.process, a.timeout)
        result.update(server.redis_cost(a.process))  # the few tasks past n are in it: slightly high
        if case == "empty":
            return result
        # Top the deep queue up again (new tasks at the head; the next oldest are at the tail).
        missing = a.depth - self.deep.r.llen(pending_key(QUEUE))
        if missing > 0:
            enqueue_many(self.deep.url, QUEUE, missing, a.batch)
        result["pending_before"] = a.depth
        return result

    def round(self, n: int) -> dict[str, Any]:
        out: dict[str, Any] = {"round": n + 1, "loadavg": os.getloadavg()[0]}
        cases = ["empty", "other", "same"]
        for kind in ("enqueue", "enqueue_many"):
            order = cases[n % 3:] + cases[:n % 3]
            for case in order:
                out[f"{kind}_{case}"] = self.enqueue_case(kind, case)
            out[f"{kind}_order"] = order
        order = ["empty", "deep"] if n % 2 == 0 else ["deep", "empty"]
        for case in order:
            out[f"process_{case}"] = self.process_case(case)
        out["process_order"] = order
        self.empty.r.flushall()
        if self.deep.r.llen(pending_key(QUEUE)) != self.args.depth:
            raise RuntimeError("the deep queue did not stay at --depth")
        return out


# -- report ---------------------------------------------------------------------------------------

ROWS = [  # label ({d}: the depth), empty key, deep key
    ("enqueue/s, single calls, {d} pending in another queue", "enqueue_empty", "enqueue_other"),
    ("enqueue/s, single calls, {d} pending in the same queue", "enqueue_empty", "enqueue_same"),
    ("enqueue_many/s, {d} pending in another queue", "enqueue_many_empty", "enqueue_many_other"),
    ("enqueue_many/s, {d} pending in the same queue", "enqueue_many_empty", "enqueue_many_same"),
    ("processed/s, the oldest tasks of a queue of {d}", "process_empty", "process_deep"),
]


def value(v: Any) -> float:
    return v["rate"] if isinstance(v, dict) else v


def summarize(rounds: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
    rows = []
    for label, ek, dk in ROWS:
        empty = [value(r[ek]) for r in rounds]
        deep = [value(r[dk]) for r in rounds]
        ratios = [d / e for d, e in zip(deep, empty)]  # each pair ran seconds apart
        us_empty = statistics.median(r[ek]["redis_us_per_task"] for r in rounds)
        us_deep = statistics.median(r[dk]["redis_us_per_task"] for r in rounds)
        cpu_empty = statistics.median(r[ek]["redis_cpu_us_per_task"] for r in rounds)
        cpu_deep = statistics.median(r[dk]["redis_cpu_us_per_task"] for r in rounds)
        rows.append({"label": label.format(d=f"{depth:,}"), "empty": statistics.median(empty),
                     "deep": statistics.median(deep), "ratio": statistics.median(deep) / statistics.median(empty),
                     "ratio_paired": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                     "ratios": ratios, "empty_all": empty, "deep_all": deep,
                     "redis_us_per_task_empty": us_empty, "redis_us_per_task_deep": us_deep,
                     "redis_cpu_us_per_task_empty": cpu_empty, "redis_cpu_us_per_task_deep": cpu_deep})
    return rows


def render(rows: list[dict[str, Any]], rounds: list[dict[str, Any]], loaded: dict[str, Any],
           first_many: float, extra: dict[str, Any] | None, meta: dict[str, Any]) -> str:
    a = meta["config"]
    lines = [(f"| | empty queue | {a['depth']:,} pending | deep / empty | per-round ratios: median (range) "
              "| within 10 %? | Redis script µs/task | Redis CPU µs/task |"), "|---|---:|---:|---:|---:|---|---:|---:|"]
    for row in rows:
        ok = "yes" if min(row["ratio"], row["ratio_paired"]) >= 0.9 else "no"
        lines.append(f"| {row['label']} | {row['empty']:,.0f} | {row['deep']:,.0f} | {row['ratio']:.2f} | "
                     f"{row['ratio_paired']:.2f} ({row['ratio_min']:.2f}–{row['ratio_max']:.2f}) | {ok} | "
                     f"{row['redis_us_per_task_empty']:.1f} → {row['redis_us_per_task_deep']:.1f} | "
                     f"{row['redis_cpu_us_per_task_empty']:.1f} → {row['redis_cpu_us_per_task_deep']:.1f} |")
    text = "\n".join(lines) + "\n\n"
    text += (f"Memory: **{loaded['bytes_per_task']:.0f} bytes per pending task** (Redis `used_memory` "
             f"{loaded['used_memory_before'] / 2**20:.1f} → {loaded['used_memory_after'] / 2**20:.0f} MiB for "
             f"{a['depth']:,} tasks, {loaded['keys_added']:,} keys added). One task: its hash "
             f"{loaded['task_hash_bytes']:.0f} B (`MEMORY USAGE`: value, key name and keyspace entry; encoding "
             f"`{loaded['task_hash_encoding']}`, `msg` {loaded['msg_bytes']} B) + its ID in the pending list "
             f"{loaded['list_bytes_per_task']:.1f} B; the rest is the keyspace's bucket table (8 B a slot) "
             f"and allocator rounding that `MEMORY USAGE` does not count.\n")
    if extra:
        text += (f"With `hash-max-listpack-value 128`: {extra['bytes_per_task']:.0f} bytes per pending task "
                 f"(hash {extra['task_hash_bytes']:.0f} B, encoding `{extra['task_hash_encoding']}`).\n")
    empty_many = statistics.median(value(r["enqueue_many_empty"]) for r in rounds)
    doubling = 2 ** a["depth"].bit_length()
    crossing = (f", which takes Redis's keyspace past {doubling:,} keys (its table doubles and is rehashed)"
                if a["depth"] + a["many"] >= doubling else " (no keyspace table doubling at these sizes)")
    text += (f"The first enqueue_many of {a['many']:,} after the load{crossing}, measured once: "
             f"{first_many:,.0f} tasks/s, {first_many / empty_many:.2f} of the empty queue's median.\n")
    segs = loaded["load_rate_by_segment"]
    text += (f"Bulk load (enqueue_many, batches of {a['batch']}): {loaded['load_rate']:,.0f} tasks/s overall; "
             f"first tenth {segs[0][1]:,.0f}/s, last tenth {segs[-1][1]:,.0f}/s.\n")
    text += (f"\nMedians of {a['repeat']} round(s); in each, every measurement against the empty Redis "
             f"and the deep one runs back to back, in an order rotated each round. N: {a['enqueue']:,} single "
             f"enqueues, {a['many']:,} by enqueue_many (batches of {a['batch']}), {a['process']:,} processed "
             f"(concurrency {CONCURRENCY}, no-op handler, one Background in the benchmark process; first "
             f"round's largest payload number among the first {a['process']:,} completions of the deep "
             f"queue: {rounds[0]['process_deep']['max_i']:,}). Redis script µs/task: time inside Redis's "
             f"`EVALSHA`s (INFO commandstats) per task: the enqueue script, or the dequeue and "
             f"completion scripts; Redis CPU µs/task: the redis-server process's CPU time (INFO cpu) "
             f"per task; both empty → deep, medians. Load average {meta['loadavg_start']:.2f} at "
             f"the start, {meta['loadavg_end']:.2f} at the end. Redis {meta['redis']}, Python "
             f"{meta['python']}, redis-py {meta['redis_py']}. `{meta['command']}` ({meta['started']}, "
             f"{meta['duration_s']:.0f} s)\n")
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depth", type=int, default=1_000_000, help="pending tasks of the deep queue")
    p.add_argument("--enqueue", type=int, default=20_000, help="single enqueue calls per measurement")
    p.add_argument("--many", type=int, default=200_000, help="tasks by enqueue_many per measurement")
    p.add_argument("--process", type=int, default=20_000, help="tasks processed per measurement")
    p.add_argument("--batch", type=int, default=1000, help="enqueue_many batch size")
    p.add_argument("--repeat", type=int, default=5, help="rounds")
    p.add_argument("--no-listpack", dest="listpack", action="store_false",
                   help="skip the memory measurement with hash-max-listpack-value 128")
    p.add_argument("--timeout", type=float, default=300.0, help="longest processing run")
    p.add_argument("--asynq-src", default=None,
                   help="benchmark the asynq package in this directory instead of the working tree's")
    p.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke test")
    p.add_argument("--output", default=None,
                   help="path prefix of .md and .json (default benchmarks/results/deep; quick: .../deep-quick)")
    args = p.parse_args(argv)
    if args.quick:
        args.depth, args.enqueue, args.many, args.process, args.repeat = 20_000, 500, 5_000, 1_000, 1
    if args.output is None:
        args.output = str(BENCH / "results" / ("deep-quick" if args.quick else "deep"))
    return args


def main(argv: list[str] | None = None) -> int:
    global asynq
    args = parse_args(argv)
    if args.asynq_src:
        sys.path.insert(0, str(Path(args.asynq_src).resolve()))
    asynq = importlib.import_module("asynq")
    logging.getLogger("asynq").setLevel(logging.WARNING)
    log(f"asynq from {Path(asynq.__file__).parent}")
    started = time.time()
    load_start = os.getloadavg()[0]
    rounds: list[dict[str, Any]] = []
    extra = None
    # DEBUG HTSTATS (to wait out a keyspace rehash), from loopback clients only
    config = ["enable-debug-command local"]
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(RedisServer(name=name, config=config)) for name in ("deep", "empty")]
        deep, empty = (Server(s.name, s.url) for s in servers)
        log(f"redis-servers: deep on {servers[0].addr}, empty on {servers[1].addr}")
        redis_version = deep.r.info("server")["redis_version"]
        loaded = load(deep, args.depth, args.batch)
        log(f"loaded {args.depth:,} at {loaded['load_rate']:,.0f}/s, {loaded['bytes_per_task']:.0f} B/task")
        # Redis doubles its keyspace table when the key count passes a power of two (2**20 =
        # 1,048,576: 48,574 tasks past a 1,000,000 deep queue) and moves every key over, a little
        # per command. That is paid once per doubling whichever queue the new keys are in:
        # measured once here, then waited out, so the rounds see the deep queue, not the resize.
        first_many, ids = enqueue_many(deep.url, OTHER, args.many, args.batch)
        deep.remove(OTHER, ids)
        log(f"first enqueue_many after the load: {first_many:,.0f}/s; rehash over after "
            f"{deep.wait_rehash() or 0:.1f} s")
        bench = Bench(empty, deep, args)
        for n in range(args.repeat):
            result = bench.round(n)
            rounds.append(result)
            log(f"round {n + 1}/{args.repeat}: " + " ".join(
                f"{k}={value(v):,.0f}" for k, v in result.items()
                if k.startswith(("enqueue", "process")) and not k.endswith("order")))
        if args.listpack:
            empty.r.flushall()
            empty.r.config_set("hash-max-listpack-value", 128)
            extra = load(empty, args.depth, args.batch)
            log(f"with hash-max-listpack-value 128: {extra['bytes_per_task']:.0f} B/task")
    rows = summarize(rounds, args.depth)
    meta = {
        "command": " ".join([".venv/bin/python", "benchmarks/deep_queue.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "duration_s": time.time() - started,
        "loadavg_start": load_start, "loadavg_end": os.getloadavg()[0],
        "redis": redis_version, "python": sys.version.split()[0], "redis_py": redis.__version__,
        "asynq": str(Path(asynq.__file__).parent),
        "config": {k: v for k, v in vars(args).items() if k != "output"},
    }
    text = render(rows, rounds, loaded, first_many, extra, meta)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".md").write_text(text)
    output.with_suffix(".json").write_text(json.dumps(
        {**meta, "summary": rows, "load": loaded, "first_enqueue_many": first_many, "rounds": rounds,
         "listpack_128": extra}, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
