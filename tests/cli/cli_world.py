"""The command-line tests' helpers: run the CLI as a subprocess, and a world of tasks in
every state that a real in-process worker put there.

The world: queue ``default`` is served by a Background worker (concurrency 4) and holds one
task of each state but pending (``hang`` is active until released; ``fail:now`` was archived
on its first failure; ``fail:later`` waits an hour to be retried; ``ok`` with a retention is
completed; one ``ok`` is scheduled an hour ahead). Queue ``critical``, which no worker serves,
is paused and holds two pending tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from asynq import Background, Client, Config, Inspector, Task, TaskState
from testkit import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 15.0
S = TaskState


@attrs.frozen
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> str:
        """stdout, after checking the command succeeded quietly."""
        assert self.returncode == 0, f"{self.args}: exit {self.returncode}\n{self.stderr}"
        assert self.stderr == "", self.stderr
        return self.stdout

    def json(self) -> Any:
        return json.loads(self.ok())

    def error(self, status: int = 1) -> str:
        """The one line on stderr, after checking the command failed with ``status`` and no traceback."""
        assert self.returncode == status, f"{self.args}: exit {self.returncode}\n{self.stdout}{self.stderr}"
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.splitlines()
        assert len(lines) == 1, self.stderr
        assert self.stdout == "", self.stdout
        return lines[0]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("ASYNQ_REDIS_URL", None)  # every test names its Redis; never the default one
    env.pop("ASYNQ_DEBUG", None)
    env.update(extra)
    return env


def run_cli(args: Sequence[str], *, program: Sequence[str] | None = None, env: dict[str, str] | None = None,
            timeout: float = 30) -> Run:
    """Run ``python -m asynq.cli ARGS`` (or ``program ARGS``) to completion."""
    command = [*(program or [sys.executable, "-m", "asynq.cli"]), *args]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env or cli_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    return Run(tuple(args), done.returncode, done.stdout, done.stderr)


class Cli:
    """The command line pointed at one Redis: ``cli("ls", "retry")`` adds ``-u URL``."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, *args: str) -> Run:
        return run_cli([*args, "-u", self.url])

    def many(self, *commands: Sequence[str]) -> list[Run]:
        """Run the commands side by side (each is a process of its own), results in order."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda args: self(*args), commands))


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    return wait_until(condition, timeout=TIMEOUT, what=what, interval=0.02)


@attrs.define
class World:
    url: str
    inspector: Inspector
    client: Client
    release: threading.Event
    ids: dict[str, str]
    """Task IDs by role: hang, dead, later, kept, scheduled, waiting1, waiting2."""

    def sizes(self, queue: str = "default") -> dict[str, int]:
        info = self.inspector.get_queue_info(queue)
        return {s: getattr(info, s) for s in ("pending", "active", "scheduled", "retry", "archived", "completed")}


def _handler(release: threading.Event) -> Callable[[Task], None]:
    def handler(task: Task) -> None:
        if task.type == "hang":
            while not (release.is_set() or task.cancelled):
                time.sleep(0.01)
            if task.cancelled:
                raise RuntimeError("cancelled by the operator")
        elif task.type.startswith("fail"):
            raise RuntimeError("boom: " + task.type)
        else:
            task.write_result(b"done")

    return handler


def build_world(url: str) -> Iterator[World]:
    """Start a worker, bring the queues to the steady state described above, yield, stop."""
    import redis

    with redis.Redis.from_url(url) as conn:
        conn.flushall()
    release = threading.Event()
    config = Config(
        concurrency=4,
        queues={"default": 1},
        retry_delay_func=lambda n, error, task: 3600,
        heartbeat_interval=0.1,
        lease_duration=5,
        forward_interval=0.05,
        recover_interval=0.2,
        janitor_interval=0.5,
        sync_interval=0.05,
        idle_poll_interval=0.05,
        shutdown_timeout=2,
    )
    client = Client(url)
    inspector = Inspector(url)
    ids = {
        "hang": client.enqueue(Task("hang", {"n": 1}), max_retry=0).id,
        "kept": client.enqueue(Task("ok", {"keep": True}), retention=3600).id,
        "dead": client.enqueue(Task("fail:now", {"n": 2}), max_retry=0).id,
        "later": client.enqueue(Task("fail:later", {"n": 3}), max_retry=3).id,
        "scheduled": client.enqueue(Task("ok", {"when": "later"}), process_in=3600).id,
        "waiting1": client.enqueue(Task("email", {"to": "a@example.com"}), queue="critical").id,
        "waiting2": client.enqueue(Task("email", {"to": "b@example.com"}), queue="critical").id,
    }
    inspector.pause_queue("critical")
    bg = Background(url, config)
    bg.start(_handler(release))
    world = World(url, inspector, client, release, ids)
    try:
        steady = {"pending": 0, "active": 1, "scheduled": 1, "retry": 1, "archived": 1, "completed": 1}
        wait_for(lambda: world.sizes() == steady, f"the worker to reach {steady}")
        wait_for(lambda: [w.task_id for s in inspector.servers() for w in s.active_workers] == [ids["hang"]],
                 "the heartbeat to show the active worker")
        yield world
    finally:
        release.set()
        bg.shutdown()
        client.close()
        inspector.close()
