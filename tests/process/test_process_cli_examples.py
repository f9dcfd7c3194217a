"""The worker command line and the examples, run as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asynq.brokers.redis import keys

REPO_ROOT = Path(__file__).resolve().parents[2]
ASYNQ = str(Path(sys.executable).parent / "asynq")
"""The console script of the environment running the tests."""


def run(args: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run to completion in the repository, with this checkout's asynq first on the path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("ASYNQ_REDIS_URL", None)
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_cli_worker_runs_the_consumer_mux_on_tasks_from_the_producer(spawn, probe) -> None:
    worker = spawn([ASYNQ, "worker", "examples.consumer:mux", "-c", "2", "-u", probe.url], name="asynq-worker")
    worker.wait_started()

    produced = run([sys.executable, "examples/producer.py", "--uri", probe.url])
    assert produced.returncode == 0, produced.stderr
    worker.wait_for_output(r"^Send Welcome Email to User 42$", stream="stdout", timeout=10)
    # The reminder is for tomorrow: it waits in scheduled.
    assert probe.sizes() == {"pending": 0, "active": 0, "scheduled": 1, "retry": 0, "archived": 0}
    probe.wait_until(
        lambda: probe.conn.get(keys.processed_total("default")) == b"1", timeout=5, what="the task to be recorded"
    )

    worker.send(signal.SIGINT)  # Ctrl-C
    assert worker.wait(timeout=10) == 0, worker.output()
    assert "Traceback" not in worker.stderr()
    assert "shut down" in worker.stderr()


def test_cli_flags_before_and_after_the_command(spawn, probe) -> None:
    worker = spawn(
        [ASYNQ, "--uri", probe.url, "worker", "examples.consumer:mux", "--queue", "critical=6", "--queue", "default=1",
         "--strict", "--concurrency", "3"],
        name="asynq-worker",
    )
    worker.wait_started()
    assert "concurrency 3, queues {'critical': 6, 'default': 1} (strict)" in worker.stderr()
    worker.send(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0, worker.output()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_module_xyz:mux"], "No module named 'no_such_module_xyz'"),
        (["examples.consumer:no_such_attr"], "has no attribute 'no_such_attr'"),
        (["examples.consumer"], "is not MODULE:ATTR"),
        (["examples.consumer:mux", "--queue", "x=abc"], "--queue 'x=abc'"),
        (["examples.consumer:mux", "--concurrency", "0"], "concurrency"),
    ],
    ids=["bad-module", "bad-attr", "no-colon", "bad-queue-weight", "zero-concurrency"],
)
def test_cli_reports_bad_arguments_in_one_line(args: list[str], message: str) -> None:
    # A URL nothing listens on: these must fail before connecting.
    result = run([ASYNQ, "worker", *args, "--uri", "redis://127.0.0.1:1"])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("asynq: error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_cli_reports_an_unreachable_redis_in_one_line() -> None:
    result = run([ASYNQ, "worker", "examples.consumer:mux", "--uri", "redis://127.0.0.1:1"])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("asynq: error: cannot reach the broker at 127.0.0.1:1")


@pytest.mark.parametrize("where", ["memory", "redis"])
def test_quickstart_runs_and_prints_a_summary(where: str, request: pytest.FixtureRequest) -> None:
    args = [sys.executable, "examples/quickstart.py"]
    if where == "redis":
        args += ["--uri", request.getfixturevalue("redis_url")]
    started = time.monotonic()
    result = run(args)
    elapsed = time.monotonic() - started
    print(f"\nquickstart on {where}: {elapsed:.2f} s")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "done: 5 tasks processed" in out, out
    for line in (
        "sent welcome email to user 1",
        "sent welcome email to user 2",
        "sent welcome email to user 3",
        "report failed on its first attempt",
        "generated report 'weekly' on attempt 2",
        "sent reminder email to user 1",
    ):
        assert line in out, out
    assert "Traceback" not in result.stderr, result.stderr
