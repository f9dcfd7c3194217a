"""Helpers for the chaos tests (imported by name: tests/chaos is on sys.path, it has no __init__).

- :class:`WorkerFleet` runs worker processes (``asynq.Background`` from a script) and SIGKILLs
  or restarts them; whatever still runs at the end of a test is killed by the fixture.
- :class:`Ledger` reads what the workers' handler recorded. Each worker process appends to its
  own file: ``S <task id> <pid> <unix time>`` when a run starts and ``D ...`` when it finished
  (before the worker records the success in Redis). The ledger lives outside Redis on purpose:
  it must not share the fate of the broker the tests break. ``os.write`` to an ``O_APPEND`` file
  is in the kernel once it returns, so a SIGKILL loses nothing that was recorded; no fsync is
  needed because the machine itself does not crash.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from asynq.brokers.redis import keys

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTED_LINE = "asynq worker started"


# The worker program. CHAOS_URL: the broker; CHAOS_LEDGER: the ledger directory; CHAOS_CONFIG:
# asynq.Config fields as JSON. Tasks of type "chaos" carry {"seconds": float}: the handler
# records S, sleeps that long, records D. A task whose worker died comes back with no delay
# (retry_delay_func returns 0), so recovery time is lease expiry + recoverer + forwarder.
WORKER_SCRIPT = r'''
import json, logging, os, sys, time
import asynq

env = os.environ
logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
pid = os.getpid()
ledger = os.open(os.path.join(env["CHAOS_LEDGER"], f"worker-{pid}.log"),
                 os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def record(kind, task_id):
    os.write(ledger, f"{kind} {task_id} {pid} {time.time():.6f}\n".encode())


def work(task):
    record("S", task.id)
    time.sleep(task.payload.get_float("seconds"))
    record("D", task.id)


config = asynq.Config(retry_delay_func=lambda n, error, task: 0.0, **json.loads(env["CHAOS_CONFIG"]))
asynq.Background(env["CHAOS_URL"], config).run(work)
'''


class WorkerProcess:
    """One worker process, its output in files."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], directory: Path) -> None:
        self.name = name
        self.stderr_path = directory / f"{name}.stderr"
        with open(directory / f"{name}.stdout", "wb") as out, open(self.stderr_path, "wb") as err:
            # Its own session: a Ctrl-C meant for pytest does not reach it.
            self.popen = subprocess.Popen(
                list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=directory,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def started(self) -> bool:
        if not self.alive:
            pytest.fail(f"{self.name} exited ({self.popen.returncode}):\n{self.stderr()}", pytrace=False)
        return STARTED_LINE in self.stderr()

    def kill(self) -> None:
        """SIGKILL (a crash); returns once the process is gone."""
        if self.alive:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()


class WorkerFleet:
    """Starts worker processes running WORKER_SCRIPT; ``cleanup`` kills every one of them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ledger_dir = directory / "ledger"
        self.ledger_dir.mkdir(exist_ok=True)
        self.script = directory / "chaos_worker.py"
        self.script.write_text(WORKER_SCRIPT)
        self.processes: list[WorkerProcess] = []

    def start(self, url: str, *, name: str, **config: Any) -> WorkerProcess:
        env = dict(os.environ)
        env.pop("ASYNQ_REDIS_URL", None)
        env["PYTHONUNBUFFERED"] = "1"
        # The asynq of this checkout, whatever the environment has installed.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env.update(CHAOS_URL=url, CHAOS_LEDGER=str(self.ledger_dir), CHAOS_CONFIG=json.dumps(config))
        name = f"{name}-{len(self.processes)}"
        process = WorkerProcess(name, [sys.executable, str(self.script)], env, self.directory)
        self.processes.append(process)
        return process

    def cleanup(self) -> None:
        for process in self.processes:
            process.kill()

    def logs(self, last: int = 3000) -> str:
        """The tail of every worker's stderr, for failure messages."""
        return "\n".join(f"--- {p.name} (pid {p.pid}) ---\n{p.stderr()[-last:]}" for p in self.processes)


class Ledger:
    """Runs recorded by the workers, read incrementally from their files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._offsets: dict[Path, int] = {}
        self._partial: dict[Path, bytes] = {}
        self.starts: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.dones: dict[str, list[tuple[int, float]]] = defaultdict(list)

    def refresh(self) -> Ledger:
        for path in sorted(self.directory.glob("worker-*.log")):
            with open(path, "rb") as f:
                f.seek(self._offsets.get(path, 0))
                data = self._partial.pop(path, b"") + f.read()
                self._offsets[path] = f.tell()
            lines = data.split(b"\n")
            if lines[-1]:
                self._partial[path] = lines[-1]  # written after our read started; next time
            for line in lines[:-1]:
                kind, task_id, pid, at = line.decode().split()
                (self.starts if kind == "S" else self.dones)[task_id].append((int(pid), float(at)))
        return self

    def done_ids(self) -> set[str]:
        return set(self.dones)

    def missing(self, ids: Iterable[str]) -> set[str]:
        self.refresh()
        return {i for i in ids if i not in self.dones}

    def duplicates(self) -> Counter[str]:
        """Task ID -> how many completed runs beyond the first."""
        return Counter({i: len(runs) - 1 for i, runs in self.dones.items() if len(runs) > 1})

    def interrupted(self, pid: int) -> list[str]:
        """Tasks whose run in process ``pid`` started but never finished."""
        return [
            task_id
            for task_id, runs in self.starts.items()
            if any(p == pid for p, _ in runs) and not any(p == pid for p, _ in self.dones.get(task_id, ()))
        ]

    def completed_elsewhere_after(self, task_id: str, pid: int, after: float) -> float | None:
        """When another process first completed ``task_id`` after ``after`` (None: never)."""
        times = [at for p, at in self.dones.get(task_id, ()) if p != pid and at >= after]
        return min(times, default=None)

    def first_done_after(self, after: float) -> float | None:
        return min((at for runs in self.dones.values() for _, at in runs if at >= after), default=None)


def recovery_times(ledger: Ledger, kills: Sequence[tuple[float, int]]) -> list[float]:
    """For each killed process, seconds from its kill to the completion, by another process,
    of each task it was running. A task whose next run was killed too is left out: its time
    adds up two recoveries."""
    killed_at = {pid: at for at, pid in kills}
    interrupted = {pid: set(ledger.interrupted(pid)) for pid in killed_at}
    times = []
    for pid, at in killed_at.items():
        for task_id in interrupted[pid]:
            done_at = ledger.completed_elsewhere_after(task_id, pid, at)
            if done_at is None:
                continue
            again = any(
                other != pid and task_id in interrupted[other] and at < other_at < done_at
                for other, other_at in killed_at.items()
            )
            if not again:
                times.append(done_at - at)
    return times


def describe_times(times: Sequence[float]) -> str:
    if not times:
        return "n/a"
    return f"max {max(times):.2f} s, median {statistics.median(times):.2f} s over {len(times)} tasks"


def queue_sizes(conn: redis.Redis, queue: str = "default") -> dict[str, int]:
    """How many tasks are in each state of ``queue``, and how many leases are held."""
    return {
        "pending": conn.llen(keys.pending(queue)),
        "active": conn.llen(keys.active(queue)),
        "scheduled": conn.zcard(keys.scheduled(queue)),
        "retry": conn.zcard(keys.retry(queue)),
        "archived": conn.zcard(keys.archived(queue)),
        "leases": conn.zcard(keys.lease(queue)),
    }


EMPTY_QUEUE = {"pending": 0, "active": 0, "scheduled": 0, "retry": 0, "archived": 0, "leases": 0}


def replica_of(primary_addr: str, nodes: Iterable[Any]) -> Any:
    """The data node of a Sentinel set that is not at ``primary_addr``."""
    (replica,) = [n for n in nodes if n.addr != primary_addr]
    return replica
