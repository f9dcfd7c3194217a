"""Helpers for tests that run workers as real processes against real Redis.

Every process is started through the ``spawn`` fixture, which kills whatever is still running
at the end of the test (pass or fail). Output goes to files in ``tmp_path`` (never a pipe that
could fill up and block the worker); tests wait on it, or on Redis, with deadlines.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


import pytest
import redis

import asynq
from asynq.brokers.redis import keys
from testkit import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTED_LINE = "asynq worker started"


# A worker program for these tests. Config comes from ASYNQ_TEST_* variables; the handler
# reports to Redis (through its own connection) so a test can follow it from outside:
#   "work" tasks, payload {"name": str, "seconds": float}: RPUSH test:started "<name> <pid>",
#   then run until `seconds` pass or the key test:release:<name> exists, then
#   RPUSH test:done "<name> <pid>".
WORKER_SCRIPT = r'''
import logging, os, sys, time
import redis
import asynq

env = os.environ
logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
r = redis.Redis.from_url(env["ASYNQ_TEST_URL"])
pid = os.getpid()
mux = asynq.ServeMux()


@mux.task("work")
def work(task):
    name = task.payload.get_str("name")
    seconds = task.payload.get_float("seconds")
    r.rpush("test:started", f"{name} {pid}")
    end = time.monotonic() + seconds
    while time.monotonic() < end and not r.exists(f"test:release:{name}"):
        time.sleep(0.02)
    r.rpush("test:done", f"{name} {pid}")


retry_delay = float(env.get("ASYNQ_TEST_RETRY_DELAY", "0.2"))
options = {
    key.removeprefix("ASYNQ_TEST_CFG_").lower(): float(value)
    for key, value in env.items() if key.startswith("ASYNQ_TEST_CFG_")
}
if "concurrency" in options:
    options["concurrency"] = int(options["concurrency"])
config = asynq.Config(retry_delay_func=lambda n, exc, task: retry_delay, **options)
asynq.Background(env["ASYNQ_TEST_URL"], config).run(mux)
print("worker exited cleanly", flush=True)
'''


class Process:
    """A child process with its stdout and stderr in files."""

    def __init__(self, args: Sequence[str], *, name: str, directory: Path, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.args = list(args)
        self.stdout_path = directory / f"{name}.stdout"
        self.stderr_path = directory / f"{name}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            # Its own session: a Ctrl-C meant for pytest does not reach it, and no terminal
            # job control interferes with the SIGTSTP the tests send.
            self.popen = subprocess.Popen(
                self.args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        """Both streams, for assertion messages."""
        return f"--- {self.name} stdout ---\n{self.stdout()}--- {self.name} stderr ---\n{self.stderr()}"

    def send(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit within {timeout:g} s\n{self.output()}", pytrace=False)

    def wait_for_output(self, pattern: str, *, stream: str = "stderr", timeout: float = 10.0) -> re.Match[str]:
        """The first match of ``pattern`` in the stream; fails early if the process exits."""

        def found() -> re.Match[str] | None:
            text = self.stderr() if stream == "stderr" else self.stdout()
            match = re.search(pattern, text, re.MULTILINE)
            if match is None and not self.alive:
                pytest.fail(
                    f"{self.name} exited ({self.popen.returncode}) before printing {pattern!r}\n{self.output()}",
                    pytrace=False,
                )
            return match

        return wait_until(found, timeout=timeout, what=f"{pattern!r} from {self.name}")

    def wait_started(self, timeout: float = 10.0) -> None:
        """Until the worker logged that it runs (its signal handlers are installed by then)."""
        self.wait_for_output(re.escape(STARTED_LINE), timeout=timeout)

    def kill(self) -> None:
        if self.alive:
            self.popen.kill()
        self.popen.wait()

    def cpu_seconds(self) -> float | None:
        """User + system CPU time used so far (Linux only; None elsewhere)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Spawner:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: list[Process] = []
        self._script: Path | None = None

    def __call__(
        self, args: Sequence[str], *, name: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT
    ) -> Process:
        full_env = dict(os.environ)
        full_env.pop("ASYNQ_REDIS_URL", None)  # the CLI's default; tests always pass --uri
        full_env["PYTHONUNBUFFERED"] = "1"
        # The asynq of this checkout, whatever the environment has installed.
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), full_env.get("PYTHONPATH")]))
        full_env.update(env or {})
        process = Process(args, name=name, directory=self.directory, env=full_env, cwd=cwd)
        self.processes.append(process)
        return process

    def worker(self, url: str, *, name: str, **config: float) -> Process:
        """Run WORKER_SCRIPT on ``url``; ``config`` are asynq.Config fields (numbers) and
        ``retry_delay`` (seconds, default 0.2)."""
        if self._script is None:
            self._script = self.directory / "worker_app.py"
            self._script.write_text(WORKER_SCRIPT)
        env = {"ASYNQ_TEST_URL": url}
        if "retry_delay" in config:
            env["ASYNQ_TEST_RETRY_DELAY"] = str(config.pop("retry_delay"))
        env.update({f"ASYNQ_TEST_CFG_{key.upper()}": str(value) for key, value in config.items()})
        return self(
            [sys.executable, str(self._script)], name=name, env=env, cwd=self.directory
        )

    def cleanup(self) -> None:
        for process in self.processes:
            process.kill()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawner]:
    """Start processes; every one still running at the end of the test is killed."""
    spawner = Spawner(tmp_path)
    try:
        yield spawner
    finally:
        spawner.cleanup()


class Probe:
    """Looks at (and feeds) one Redis from the test's side."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = redis.Redis.from_url(url)

    wait_until = staticmethod(wait_until)

    def enqueue(self, name: str, seconds: float = 0.0, **options: object) -> str:
        """Enqueue a "work" task for WORKER_SCRIPT; return its ID."""
        with asynq.Client(self.url) as client:
            return client.enqueue(asynq.Task("work", {"name": name, "seconds": seconds}), **options).id

    def entries(self, key: str) -> list[tuple[str, int]]:
        """(name, pid) pairs from test:started / test:done."""
        return [(n, int(p)) for n, p in (e.decode().split() for e in self.conn.lrange(key, 0, -1))]

    def names(self, key: str) -> list[str]:
        return [name for name, _ in self.entries(key)]

    def state(self, task_id: str, queue: str = "default") -> str | None:
        state = self.conn.hget(keys.task(queue, task_id), "state")
        return state.decode() if state is not None else None

    def pending(self, queue: str = "default") -> list[str]:
        """Pending IDs, the next one to be dequeued (the head) last, as Redis keeps them."""
        return [i.decode() for i in self.conn.lrange(keys.pending(queue), 0, -1)]

    def sizes(self, queue: str = "default") -> dict[str, int]:
        return {
            "pending": self.conn.llen(keys.pending(queue)),
            "active": self.conn.llen(keys.active(queue)),
            "scheduled": self.conn.zcard(keys.scheduled(queue)),
            "retry": self.conn.zcard(keys.retry(queue)),
            "archived": self.conn.zcard(keys.archived(queue)),
        }

    def task_keys(self, queue: str = "default") -> list[bytes]:
        return list(self.conn.scan_iter(match=keys.task_prefix(queue) + "*"))

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def make_probe() -> Iterator[Callable[[str], Probe]]:
    probes: list[Probe] = []

    def make(url: str) -> Probe:
        probes.append(Probe(url))
        return probes[-1]

    yield make
    for probe in probes:
        probe.close()


@pytest.fixture
def probe(redis_url: str, make_probe: Callable[[str], Probe]) -> Probe:
    """A probe on the suite's standalone Redis (flushed for this test)."""
    return make_probe(redis_url)
