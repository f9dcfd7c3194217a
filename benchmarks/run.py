"""asynq side by side with Celery, RQ, Dramatiq, Huey and arq, on one private Redis.

    .venv/bin/python benchmarks/run.py [--quick] [--systems asynq,celery,...] [--tasks N]
                                       [--repeat R] [--latency-samples K]

Starts its own ``redis-server`` on a free loopback port, creates each peer's virtualenv under
``benchmarks/.venvs/<name>`` from ``benchmarks/requirements/<name>.txt`` when missing or out of
date, and drives every system through its adapter ``benchmarks/systems/<name>.py`` (run with
that system's python). Rounds are interleaved (the order is rotated each round); the table
holds medians and each system's ratio to the best peer. It is printed and written to
``<output>.md``, the raw numbers to ``<output>.json``. ``--quick`` (CI): asynq only, small N,
no peer virtualenvs. See benchmarks/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402  (the project's own dependency; no peer is imported here)

from brokers import RedisServer  # noqa: E402

MARK = "@@bench "
CONCURRENCY = 8
LEDGER_POLL = 0.005  # seconds between two looks at the ledger file for new completions
TURN = 100  # tasks one producer sends per turn in the enqueue-turns measurement


@dataclass(frozen=True)
class System:
    name: str
    module: str  # benchmarks.systems.<module>
    venv: str | None  # None: the project's own interpreter (this one)
    concurrency: str  # what "concurrency 8" is for this system, for the table
    variant: str = ""
    bulk: bool = False  # has an enqueue_many measurement
    library: str = ""  # version key reported by the adapter
    max_tasks: int | None = None  # N is capped for systems too slow for the full N

    @property
    def is_peer(self) -> bool:
        return self.name != "asynq"


SYSTEMS = [
    System("asynq", "asynq", None, "8 threads", bulk=True, library="asynq"),
    System("celery", "celery", "celery", "8 threads (`--pool threads`)", "threads", library="celery"),
    System("celery-prefork", "celery", "celery", "8 child processes (`--pool prefork`)", "prefork", library="celery"),
    System("rq", "rq", "rq", "1 (one job at a time; forks a work horse per job)", "default", library="rq",
           max_tasks=2000),  # a fork per job: ~60 tasks/s here, 20 000 would take 6 minutes a round
    System("rq-simple", "rq", "rq", "1 (`SimpleWorker`: one job at a time, in-process)", "simple", library="rq"),
    System("dramatiq", "dramatiq", "dramatiq", "8 threads (1 process)", library="dramatiq"),
    System("huey", "huey", "huey", "8 threads (`-w 8 -k thread`)", library="huey"),
    System("arq", "arq", "arq", "8 jobs (`max_jobs=8`, asyncio)", library="arq"),
]
BY_NAME = {s.name: s for s in SYSTEMS}
REFERENCE = "redis-floor"
REFERENCE_BATCH = 100
REFERENCE_METRICS = ("enqueue_rate", "processing_rate", "commands_per_task", "redis_cpu_us_per_task")

# metric key, column title, higher is better?
METRICS = [
    ("enqueue_rate", "enqueue/s ↑", True),
    ("enqueue_many_rate", "enqueue_many/s ↑", True),
    ("processing_rate", "processed/s ↑", True),
    ("latency_p50_ms", "latency p50 ms ↓", False),
    ("latency_p99_ms", "latency p99 ms ↓", False),
    ("rss_mb", "worker RSS MB ↓", False),
    ("commands_per_task", "Redis cmds/task ↓", False),
    ("redis_cpu_us_per_task", "Redis CPU µs/task ↓", False),
]


class Failure(Exception):
    """A measurement of one system failed; the run goes on with the others."""


# -- processes ------------------------------------------------------------------------------------

_live: dict[int, subprocess.Popen[Any]] = {}


def _popen(cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)  # own group: we kill its children too
    _live[proc.pid] = proc
    return proc


def _stop(proc: subprocess.Popen[Any], grace: float = 15.0) -> None:
    """SIGTERM (each library's graceful stop), then SIGKILL to the process and its group."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers: RQ work horses, prefork children
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
    finally:
        _live.pop(proc.pid, None)


def _stop_all() -> None:
    for proc in list(_live.values()):
        _stop(proc, grace=2.0)


# -- virtualenvs ----------------------------------------------------------------------------------

def ensure_venv(name: str, log: Callable[[str], None]) -> Path:
    """The python of ``benchmarks/.venvs/<name>``, (re)built when its requirements changed."""
    venv = BENCH / ".venvs" / name
    requirements = BENCH / "requirements" / f"{name}.txt"
    python = venv / "bin" / "python"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = venv / ".requirements.sha256"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python
    log(f"creating {venv.relative_to(ROOT)} from {requirements.relative_to(ROOT)} (pip, from PyPI)")
    if venv.exists():
        shutil.rmtree(venv)
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(requirements)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise Failure(f"pip install -r {requirements.name} failed:\n{result.stderr[-2000:]}")
    stamp.write_text(digest + "\n")
    return python


# -- one system -----------------------------------------------------------------------------------

class Runner:
    def __init__(self, args: argparse.Namespace, server: RedisServer, logs: Path) -> None:
        self.args = args
        self.url = server.url
        # no socket timeout: redis-py 8's default of 5 s would cut the long BLPOP short
        self.redis = redis.Redis.from_url(self.url, protocol=2, socket_timeout=None)
        self.logs = logs
        self.pythons: dict[str, str] = {}

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def python(self, system: System) -> str:
        if system.venv is None:
            return sys.executable
        if system.venv not in self.pythons:
            self.pythons[system.venv] = str(ensure_venv(system.venv, self.log))
        return self.pythons[system.venv]

    def env(self, ledger: Path | None = None) -> dict[str, str]:
        env = dict(os.environ, BENCH_REDIS_URL=self.url, BENCH_LEDGER=str(ledger or ""))
        env.pop("PYTHONPATH", None)  # each venv sees only its own packages (and the repo root, via -m)
        if self.args.asynq_src:
            env["BENCH_ASYNQ_SRC"] = str(Path(self.args.asynq_src).resolve())
        return env

    def command(self, system: System, *args: str) -> list[str]:
        return [self.python(system), "-m", f"benchmarks.systems.{system.module}", *args]

    def op(self, system: System, tag: str, *args: str, timeout: float) -> dict[str, Any]:
        """Run a one-shot adapter operation and return its ``@@bench`` result."""
        log_path = self.logs / f"{system.name}-{tag}.log"
        with open(log_path, "ab") as log_file:
            proc = _popen(self.command(system, *args), cwd=ROOT, env=self.env(),
                          stdout=subprocess.PIPE, stderr=log_file)
            try:
                out, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise Failure(f"{' '.join(args[:1])} took more than {timeout:g} s (log: {log_path})") from None
            finally:
                _stop(proc)
        results = [json.loads(line[len(MARK):]) for line in out.decode().splitlines() if line.startswith(MARK)]
        if proc.returncode != 0 or not results:
            raise Failure(f"{' '.join(args[:1])} exited with {proc.returncode} (log: {log_path})")
        return results[-1]

    def flush(self) -> None:
        self.redis.flushall()

    def start_worker(
        self, system: System, tag: str, ledger: Path | None = None
    ) -> tuple[subprocess.Popen[Any], Path]:
        log_path = self.logs / f"{system.name}-{tag}.log"
        log_file = open(log_path, "wb")
        try:
            proc = _popen(
                self.command(system, "worker", "--concurrency", str(CONCURRENCY), "--variant", system.variant),
                cwd=ROOT, env=self.env(ledger), stdout=log_file, stderr=subprocess.STDOUT,
            )
        finally:
            log_file.close()
        return proc, log_path

    # -- measurements ---------------------------------------------------------------------------

    def versions(self, system: System) -> dict[str, Any]:
        return self.op(system, "version", "version", timeout=120)

    def enqueue(self, system: System, n: int, many: bool = False) -> float:
        args = ["enqueue", "--n", str(n)] + (["--many", "--batch", "1000"] if many else [])
        result = self.op(system, "enqueue_many" if many else "enqueue", *args, timeout=self.args.timeout)
        return n / result["seconds"]

    def enqueue_turns(self, systems: list[System], n: int) -> tuple[dict[str, float], dict[str, str]]:
        """Single-call enqueue rate of every system, its producer taking turns with the others'.

        All producers start at once; each in turn sends TURN tasks while the others wait
        (the order rotates every turn), and times only its own turns. The machine's speed
        changes from second to second, so rates measured one system after another differ by
        as much as 2x between rounds; taking turns gives every system the same share of the
        fast and the slow moments. Returns the rates and, per system, the error that stopped it.
        """
        self.flush()
        takers: dict[str, TurnTaker] = {}
        errors: dict[str, str] = {}
        rates: dict[str, float] = {}
        timeout = self.args.timeout

        def drop(name: str, exc: Exception) -> None:
            errors[name] = str(exc)
            self.log(f"  {name} enqueue (turns) FAILED: {exc}")
            _stop(takers.pop(name).proc)

        try:
            for system in systems:
                takers[system.name] = TurnTaker(self, system)
            for name in list(takers):
                try:
                    takers[name].expect("ready", timeout)
                except Failure as exc:
                    drop(name, exc)
            for turn in range(math.ceil(n / TURN)):
                names = list(takers)
                shift = turn % max(1, len(names))
                for name in names[shift:] + names[:shift]:
                    try:
                        takers[name].turn(timeout)
                    except Failure as exc:
                        drop(name, exc)
            for name in list(takers):
                try:
                    rates[name] = takers[name].finish(timeout)
                except Failure as exc:
                    drop(name, exc)
        finally:
            for taker in takers.values():
                _stop(taker.proc)
        self.flush()
        return rates, errors

    def processing(self, system: System, n: int) -> dict[str, Any]:
        """N tasks are pending; start one worker process and wait for the N-th completion."""
        ledger = Ledger(self.logs / f"{system.name}-ledger.txt")
        before = self.redis.info("all")  # counted in the delta below: 1 command
        popen_time = time.time()
        proc, log_path = self.start_worker(system, "worker", ledger.path)
        sampler = ChildSampler(proc.pid)
        sampler.start()
        out: dict[str, Any] = {}
        try:
            complete = ledger.wait_for(n, timeout=self.args.timeout, alive=lambda: proc.poll() is None)
            after = self.redis.info("all")  # not counted in itself
            out["redis_cpu_s"] = redis_cpu_seconds(after) - redis_cpu_seconds(before)
            out["rss_mb"] = vm_hwm_mb(proc.pid)
        finally:
            sampler.stop()
            _stop(proc)
        if not complete:
            state = "running" if proc.returncode is None else f"exited with {proc.returncode}"
            raise Failure(
                f"only {len(ledger.seen)} of {n} tasks completed within {self.args.timeout:g} s "
                f"(worker {state}; log: {log_path})"
            )
        events = read_events(log_path)
        start = next((e["t"] for e in events if e.get("op") == "worker_start"), None)
        if start is None:
            raise Failure(f"the worker never reported its start (log: {log_path})")
        end = ledger.last_completion
        harness = 1  # our INFO before the worker starts; the tasks' bookkeeping sends no command
        total = after["total_commands_processed"] - before["total_commands_processed"]
        ledger.read()  # completions that landed while the worker was being stopped
        out.update(
            processing_seconds=end - start,
            processing_rate=n / (end - start),
            process_seconds=end - popen_time,  # from Popen: includes interpreter start and imports
            commands_total=total,
            commands_harness=harness,
            commands_per_task=(total - harness) / n,
            commandstats=commandstats_delta(before, after),
            children_pss_peak_mb=sampler.peak_mb,
            lost=n - len(ledger.seen),
            duplicated=sum(1 for c in ledger.seen.values() if c > 1),
        )
        return out

    def latency(self, system: System) -> dict[str, Any]:
        proc, log_path = self.start_worker(system, "latency-worker")
        try:
            result = self.op(
                system, "latency", "latency",
                "--samples", str(self.args.latency_samples), "--gap", str(self.args.latency_gap),
                "--budget", str(self.args.latency_budget), "--timeout", "30", "--startup", "60",
                timeout=self.args.latency_budget + 120,
            )
        finally:
            _stop(proc)
        values = sorted(result["latencies_ms"])
        if not values:
            raise Failure("no latency sample")
        return {
            "latency_samples": len(values),
            "latency_p50_ms": percentile(values, 50),
            "latency_p99_ms": percentile(values, 99),
            "latency_max_ms": values[-1],
            "latencies_ms": [round(v, 4) for v in result["latencies_ms"]],
        }

    def measure(self, system: System, n: int) -> dict[str, Any]:
        """Every metric of one system, each phase on an empty Redis; failures are recorded."""
        if system.max_tasks is not None:
            n = min(n, system.max_tasks)
        result: dict[str, Any] = {"system": system.name, "tasks": n, "loadavg_before": os.getloadavg()[0],
                                  "errors": []}

        def phase(name: str, fn: Callable[[], Any]) -> None:
            self.flush()
            try:
                fn()
            except Failure as exc:
                result["errors"].append(f"{name}: {exc}")
                self.log(f"  {system.name} {name} FAILED: {exc}")
            except Exception as exc:  # keep going with the others; the table shows the error
                result["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
                self.log(f"  {system.name} {name} FAILED: {type(exc).__name__}: {exc}")

        if system.bulk:
            phase("enqueue_many", lambda: result.update(enqueue_many_rate=self.enqueue(system, n, many=True)))

        def enqueue_then_process() -> None:
            # The table's enqueue/s comes from enqueue_turns; this run, alone, loads the queue.
            cpu_before = redis_cpu_seconds(self.redis)
            result["enqueue_alone_rate"] = self.enqueue(system, n)
            enqueue_cpu = redis_cpu_seconds(self.redis) - cpu_before
            result.update(self.processing(system, n))
            result["redis_cpu_enqueue_us_per_task"] = enqueue_cpu / n * 1e6
            result["redis_cpu_us_per_task"] = (enqueue_cpu + result.pop("redis_cpu_s")) / n * 1e6

        phase("processing", enqueue_then_process)
        phase("latency", lambda: result.update(self.latency(system)))
        self.flush()
        return result

    def reference(self, n: int) -> dict[str, Any]:
        """The floor: one redis-py client, one connection, Lua scripts, no queue library."""
        self.flush()
        out: dict[str, Any] = {"system": REFERENCE, "tasks": n, "loadavg_before": os.getloadavg()[0], "errors": []}
        for batch in (1, REFERENCE_BATCH):
            self.flush()
            floor = Floor(redis.Redis.from_url(self.url, protocol=2, socket_timeout=None))
            floor.warm()
            cpu_before = redis_cpu_seconds(self.redis)
            start = time.perf_counter()
            floor.enqueue(n, batch)
            enqueue = n / (time.perf_counter() - start)
            before = self.redis.info("stats")["total_commands_processed"]
            start = time.perf_counter()
            done = floor.process(batch)
            seconds = time.perf_counter() - start
            after = self.redis.info("stats")["total_commands_processed"]
            cpu = redis_cpu_seconds(self.redis) - cpu_before
            if done != n:
                out["errors"].append(f"reference batch {batch}: processed {done} of {n}")
            suffix = "" if batch == 1 else f"_batch{batch}"
            out[f"enqueue_rate{suffix}"] = enqueue
            out[f"processing_rate{suffix}"] = n / seconds
            out[f"commands_per_task{suffix}"] = (after - before - 1) / n
            out[f"redis_cpu_us_per_task{suffix}"] = cpu / n * 1e6
            floor.client.close()
        self.flush()
        return out


class Floor:
    """The minimal Redis work of a reliable queue, per task: enqueue (store + push), dequeue
    (move to an active list + lease in a sorted set + read the message), ack (remove all three).
    ``batch`` 1 is one round trip per step; larger batches pipeline the enqueues and move/ack
    ``batch`` tasks per script call, as a batching queue would."""

    ENQUEUE = """
redis.call('HSET', KEYS[1], 'msg', ARGV[2], 'state', 'pending')
return redis.call('LPUSH', KEYS[2], ARGV[1])"""
    DEQUEUE = """
local out = {}
for _ = 1, tonumber(ARGV[2]) do
  local id = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
  if not id then break end
  redis.call('ZADD', KEYS[3], ARGV[1], id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', ARGV[3] .. id, 'msg')
end
return out"""
    ACK = """
for i = 1, #ARGV do
  redis.call('LREM', KEYS[1], 1, ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('DEL', KEYS[3] .. ARGV[i])
end
return #ARGV"""
    PREFIX = "floor:t:"
    MESSAGE = b"x" * 100  # about the size of a small task message

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._enqueue = client.register_script(self.ENQUEUE)
        self._dequeue = client.register_script(self.DEQUEUE)
        self._ack = client.register_script(self.ACK)

    def warm(self) -> None:
        """Connect and load the scripts outside the timed loops."""
        self.client.ping()
        for script in (self._enqueue, self._dequeue, self._ack):
            self.client.script_load(script.script)

    def enqueue(self, n: int, batch: int) -> None:
        if batch == 1:
            for i in range(n):
                self._enqueue(keys=[f"{self.PREFIX}{i}", "floor:pending"], args=[i, self.MESSAGE])
            return
        for lo in range(0, n, batch):
            pipe = self.client.pipeline(transaction=False)
            for i in range(lo, min(n, lo + batch)):
                self._enqueue(keys=[f"{self.PREFIX}{i}", "floor:pending"], args=[i, self.MESSAGE], client=pipe)
            pipe.execute()

    def process(self, batch: int) -> int:
        done = 0
        # ACK's third key is a prefix (the ids come as arguments): fine for one standalone Redis.
        ack_keys = ["floor:active", "floor:lease", self.PREFIX]
        while True:
            got = self._dequeue(keys=["floor:pending", "floor:active", "floor:lease"],
                                args=[time.time() + 30, batch, self.PREFIX])
            if not got:
                return done
            ids = got[0::2]
            self._ack(keys=ack_keys, args=ids)
            done += len(ids)


# -- helpers --------------------------------------------------------------------------------------

class TurnTaker:
    """One system's producer in :meth:`Runner.enqueue_turns`: a process that sends a burst of
    tasks for every line it reads, and answers each with a ``turn`` line."""

    def __init__(self, runner: Runner, system: System) -> None:
        log_path = runner.logs / f"{system.name}-enqueue-turns.log"
        with open(log_path, "ab") as log_file:
            self.proc = _popen(
                runner.command(system, "enqueue-turns", "--burst", str(TURN)), cwd=ROOT, env=runner.env(),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file,
            )
        self.log_path = log_path
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(b"")  # end of output

    def expect(self, op: str, timeout: float) -> dict[str, Any]:
        """The next ``@@bench`` result, which must be ``op``; other output is the library's."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic())).decode()
            except queue.Empty:
                raise Failure(f"no {op!r} within {timeout:g} s (log: {self.log_path})") from None
            if not line:
                raise Failure(f"exited with {self.proc.wait()} before {op!r} (log: {self.log_path})")
            if line.startswith(MARK):
                result: dict[str, Any] = json.loads(line[len(MARK):])
                if result.get("op") != op:
                    raise Failure(f"sent {result.get('op')!r} where {op!r} was due (log: {self.log_path})")
                return result

    def turn(self, timeout: float) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(b"go\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise Failure(f"exited with {self.proc.wait()} (log: {self.log_path})") from None
        self.expect("turn", timeout)

    def finish(self, timeout: float) -> float:
        """Close the producer's stdin; its rate over its own turns."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        result = self.expect("enqueue", timeout)
        return float(result["n"] / result["seconds"])


class Ledger:
    """The file the no-op tasks append ``"<id> <completion time>"`` lines to (_harness.record).

    Read incrementally: ``seen`` counts completions per task id, ``last_completion`` is the
    latest completion time read so far.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self.seen: dict[int, int] = {}
        self.last_completion = 0.0
        self._offset = 0
        self._partial = b""

    def read(self) -> None:
        """Take in the lines appended since the last read (a line being written waits)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            task_id, finished = line.split()
            key = int(task_id)
            self.seen[key] = self.seen.get(key, 0) + 1
            self.last_completion = max(self.last_completion, float(finished))

    def wait_for(self, n: int, timeout: float, alive: Callable[[], bool]) -> bool:
        """Whether N distinct tasks completed before ``timeout`` s passed or the worker died."""
        deadline = time.monotonic() + timeout
        while True:
            self.read()
            if len(self.seen) >= n:
                return True
            if time.monotonic() > deadline or not alive():
                return False
            time.sleep(LEDGER_POLL)  # a poll interval: the completion times come from the tasks


class ChildSampler(threading.Thread):
    """Peak summed PSS of a worker's descendants (RQ work horses, Celery prefork children),
    sampled every 100 ms: the worker process's own peak is VmHWM, read exactly."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_mb = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.1):
            total = sum(pss_mb(child) for child in descendants(self.pid))
            self.peak_mb = max(self.peak_mb, total)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                stack.append(child)
    return found


def pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size of a live process (``VmHWM`` in /proc/<pid>/status)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(MARK):
            try:
                events.append(json.loads(line[len(MARK):]))
            except ValueError:
                pass
    return events


def commandstats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    out = {}
    for key, value in after.items():
        if key.startswith("cmdstat_") and isinstance(value, dict):
            calls = value.get("calls", 0) - before.get(key, {}).get("calls", 0)
            if calls:
                out[key[len("cmdstat_"):]] = calls
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def redis_cpu_seconds(source: redis.Redis | dict[str, Any]) -> float:
    """CPU time the Redis server has used (user + system, all its threads), from ``INFO``."""
    info = source if isinstance(source, dict) else source.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def machine_info(server_client: redis.Redis) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gb = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        mem_gb = None
    server = server_client.info("server")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1) if mem_gb else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "redis": server.get("redis_version"),
        "redis_config": "standalone, loopback TCP, no persistence (save \"\", appendonly no)",
    }


# -- the table ------------------------------------------------------------------------------------

def summarize(runs: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, Any]]:
    """Median of each metric over the rounds that produced it; lost/duplicated: worst round."""
    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        mine = [r for r in runs if r["system"] == name]
        row: dict[str, Any] = {"rounds": len(mine)}
        keys = {k for r in mine for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for key in sorted(keys):
            values = [r[key] for r in mine if isinstance(r.get(key), (int, float)) and r.get(key) is not None]
            if not values:
                continue
            row[key] = max(values) if key in ("lost", "duplicated") else statistics.median(values)
        row["errors"] = [f"round {i + 1}: {e}" for i, r in enumerate(mine) for e in r.get("errors", [])]
        summary[name] = row
    return summary


def best_peers(summary: dict[str, dict[str, Any]]) -> dict[str, float]:
    best: dict[str, float] = {}
    for key, _, higher in METRICS:
        values = [row[key] for name, row in summary.items()
                  if name in BY_NAME and BY_NAME[name].is_peer and row.get(key) is not None]
        if values:
            best[key] = max(values) if higher else min(values)
    return best


def fmt(value: float | None, key: str) -> str:
    if value is None:
        return "—"
    if key.endswith("_rate"):
        return f"{value:,.0f}"
    if key == "commands_per_task":
        return f"{value:.1f}"
    if key.endswith("_ms"):
        return f"{value:.2f}" if value < 10 else f"{value:,.0f}"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def cell(value: float | None, key: str, best: dict[str, float]) -> str:
    text = fmt(value, key)
    if value is None or key not in best or not best[key]:
        return text
    return f"{text} ({value / best[key]:.2f}×)"


def render(summary: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    best = best_peers(summary)
    head = ["system", "concurrency"] + [title for _, title, _ in METRICS] + ["lost", "dup"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    notes: list[str] = []
    for name, row in summary.items():
        if name == REFERENCE:
            continue
        system = BY_NAME[name]
        cells = [f"**{name}**" if name == "asynq" else name, system.concurrency]
        cells += [cell(row.get(key), key, best) for key, _, _ in METRICS]
        cells += [fmt_count(row.get("lost")), fmt_count(row.get("duplicated"))]
        lines.append("| " + " | ".join(cells) + " |")
        if row.get("tasks") is not None and row["tasks"] != meta["config"]["tasks"]:
            notes.append(f"{name}: N = {row['tasks']:,.0f} tasks (capped: too slow for the full N)")
        if row.get("children_pss_peak_mb", 0) >= 1:
            notes.append(f"{name}: plus {row['children_pss_peak_mb']:.0f} MB in child processes "
                         "(peak summed PSS, sampled every 100 ms)")
        samples = row.get("latency_samples")
        if samples is not None and samples < meta["config"]["latency_samples"]:
            notes.append(f"{name}: latency over {samples:.0f} samples (the "
                         f"{meta['config']['latency_budget']:g} s budget ran out)")
        for error in row["errors"]:
            notes.append(f"{name} {error}")
    if REFERENCE in summary:
        ref = summary[REFERENCE]
        for suffix, label in (("", "one task at a time"), (f"_batch{REFERENCE_BATCH}", f"batches of {REFERENCE_BATCH}")):
            cells = [f"*{REFERENCE}* ({label})", "1 connection, no library"]
            for key, _, _ in METRICS:
                value = ref.get(key + suffix) if key in REFERENCE_METRICS else None
                cells.append(cell(value, key, best))
            cells += ["", ""]
            lines.append("| " + " | ".join(cells) + " |")
        for error in ref["errors"]:
            notes.append(f"{REFERENCE} {error}")
    text = "\n".join(lines)
    if notes:
        text += "\n\n" + "\n".join(f"- {note}" for note in notes)
    return text


def fmt_count(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def report(meta: dict[str, Any], summary: dict[str, dict[str, Any]]) -> str:
    m, c = meta["machine"], meta["config"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(meta["library_versions"].items()))
    return f"""# Benchmark: asynq and its peers

{render(summary, meta)}

Medians of {c['repeat']} interleaved round(s). In parentheses: the ratio to the best peer
(↑ higher is better, ↓ lower is better). N = {c['tasks']:,} no-op tasks per enqueue and
processing run, {c['concurrency']} at once in one worker process where the system allows it.
Single-call enqueue/s: the producers of all systems run at once and take turns, {TURN} tasks
each, the order rotating every turn; each system's rate counts only its own turns.
`enqueue_many` in batches of 1000. Latency over {c['latency_samples']:,} tasks sent one at a
time, each {c['latency_gap'] * 1000:g} ms after the previous one started. Each task's own
bookkeeping is one line appended to a file (no Redis command). Redis commands per task
include those run inside Lua scripts. The
`{REFERENCE}` rows are the Redis floor: one client on one connection doing only a reliable
queue's minimal Redis work (enqueue: store and push; processed: dequeue with a lease, then ack).
How each number is taken: benchmarks/README.md.

- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}
- Load average: {meta['loadavg_start']:.2f} at the start, {meta['loadavg_end']:.2f} at the end
- Python {m['python']}; Redis {m['redis']} ({m['redis_config']})
- Versions: {versions}
- Command: `{meta['command']}` ({meta['started']}, {meta['duration_s']:.0f} s)
"""


# -- main -----------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="CI mode: asynq only, small N, one round, no peer virtualenvs")
    parser.add_argument("--systems", default=None,
                        help=f"comma-separated, from {','.join(BY_NAME)} (default: all)")
    parser.add_argument("--tasks", type=int, default=None, help="N tasks per run (default 10000; quick 500)")
    parser.add_argument("--repeat", type=int, default=None, help="rounds (default 3; quick 1)")
    parser.add_argument("--latency-samples", type=int, default=None, help="K (default 1000; quick 50)")
    parser.add_argument("--latency-gap", type=float, default=0.002,
                        help="seconds between one task's start and the next send (default 0.002)")
    parser.add_argument("--latency-budget", type=float, default=60.0,
                        help="seconds at most per latency run; fewer samples if it runs out (default 60)")
    parser.add_argument("--no-reference", action="store_true", help="skip the Redis floor rows")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds at most for one enqueue or processing run (default 600)")
    parser.add_argument("--output", default=None,
                        help="path prefix of the .md and .json results (default benchmarks/results/latest; "
                             "quick: benchmarks/results/quick)")
    parser.add_argument("--asynq-src", default=None,
                        help="benchmark the asynq package in this directory instead of the working tree's")
    args = parser.parse_args(argv)
    if args.quick:
        defaults = {"tasks": 500, "repeat": 1, "latency_samples": 50, "systems": "asynq",
                    "output": str(BENCH / "results" / "quick")}
    else:
        defaults = {"tasks": 10_000, "repeat": 3, "latency_samples": 1000, "systems": ",".join(BY_NAME),
                    "output": str(BENCH / "results" / "latest")}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in names if s not in BY_NAME]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    args.system_list = [BY_NAME[s] for s in names]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    logs = output.parent / "logs"
    logs.mkdir(exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()

    def on_sigterm(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    runs: list[dict[str, Any]] = []
    versions: dict[str, Any] = {}
    machine: dict[str, Any] = {}
    try:
        with RedisServer(name="bench") as server:
            runner = Runner(args, server, logs)
            runner.log(f"redis-server on {server.addr}; logs in {logs}")
            machine = machine_info(runner.redis)
            systems = []
            for system in args.system_list:  # virtualenvs and versions first, outside the timing
                try:
                    info = runner.versions(system)
                except (Failure, subprocess.CalledProcessError) as exc:
                    runner.log(f"{system.name}: skipped, {exc}")
                    runs.append({"system": system.name, "errors": [f"setup: {exc}"]})
                    continue
                versions[system.name] = info
                systems.append(system)
            order: list[str] = [s.name for s in systems] + ([] if args.no_reference else [REFERENCE])
            for round_no in range(args.repeat):
                runner.log(f"round {round_no + 1}/{args.repeat}: single-call enqueue, all systems taking turns")
                turn_rates, turn_errors = runner.enqueue_turns(systems, args.tasks)
                shift = round_no % len(order)
                for name in order[shift:] + order[:shift]:
                    runner.log(f"round {round_no + 1}/{args.repeat}: {name}")
                    if name == REFERENCE:
                        result = runner.reference(args.tasks)
                    else:
                        result = runner.measure(BY_NAME[name], args.tasks)
                        if name in turn_rates:
                            result["enqueue_rate"] = turn_rates[name]
                        if name in turn_errors:
                            result["errors"].append(f"enqueue (turns): {turn_errors[name]}")
                    result["round"] = round_no + 1
                    runs.append(result)
                    runner.log("  " + brief(result))
    finally:
        _stop_all()
    names = [s.name for s in args.system_list] + ([] if args.no_reference else [REFERENCE])
    summary = summarize(runs, names)
    library_versions = {}  # "celery": "5.7.0 (redis-py 8.1.0)": each venv has its own redis-py
    for name, info in versions.items():
        system = BY_NAME[name]
        client = f"redis-py {info.get('redis_py')}" + (", hiredis" if info.get("hiredis") else "")
        library_versions[system.library] = f"{info.get(system.library)} ({client})"
    meta = {
        "command": " ".join([Path(sys.executable).name, "benchmarks/run.py", *sys.argv[1:]] if argv is None
                            else ["benchmarks/run.py", *argv]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "duration_s": time.time() - started,
        "loadavg_start": runs[0].get("loadavg_before", 0.0) if runs else 0.0,
        "loadavg_end": os.getloadavg()[0],
        "machine": machine,
        "config": {"tasks": args.tasks, "repeat": args.repeat, "concurrency": CONCURRENCY,
                   "latency_samples": args.latency_samples, "latency_gap": args.latency_gap,
                   "latency_budget": args.latency_budget, "systems": names,
                   "asynq_src": args.asynq_src},
        "library_versions": library_versions,
        "adapter_versions": versions,
    }
    text = report(meta, summary)
    output.with_suffix(".md").write_text(text)
    output.with_suffix(".json").write_text(json.dumps({**meta, "summary": summary, "runs": runs}, indent=1) + "\n")
    print(text)
    print(f"written: {output.with_suffix('.md')} and {output.with_suffix('.json')}", file=sys.stderr)
    failed = any(r.get("errors") for r in runs if r["system"] in ("asynq", REFERENCE))
    return 1 if failed else 0


def brief(result: dict[str, Any]) -> str:
    parts = []
    for key in ("enqueue_rate", "enqueue_many_rate", "processing_rate", "latency_p50_ms", "latency_p99_ms",
                "rss_mb", "commands_per_task", "redis_cpu_us_per_task", "lost", "duplicated",
                f"processing_rate_batch{REFERENCE_BATCH}"):
        if result.get(key) is not None:
            value = fmt_count(result[key]) if key in ("lost", "duplicated") else fmt(result[key], key)
            parts.append(f"{key}={value}")
    if result.get("errors"):
        parts.append(f"errors={len(result['errors'])}")
    return " ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
