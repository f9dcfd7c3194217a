"""The examples run as a user would run them, against the suite's Redis."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import redis

from asynq.brokers.redis import codec, keys

REPO_ROOT = Path(__file__).resolve().parents[2]
DAY = 24 * 3600


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / name), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def enqueued_ids(stdout: str) -> dict[str, str]:
    """Task type -> ID, from the producer's "enqueued <type>: id=<id> ..." lines."""
    return dict(re.findall(r"^enqueued (\S+): id=(\S+) ", stdout, re.MULTILINE))


def test_producer_against_redis(redis_url: str) -> None:
    start = time.time()
    result = run_example("producer.py", "--uri", redis_url)
    assert result.returncode == 0, result.stderr
    ids = enqueued_ids(result.stdout)
    assert set(ids) == {"send_welcome_email", "send_reminder_email"}, result.stdout

    with redis.Redis.from_url(redis_url) as conn:
        pending = conn.lrange(keys.pending("default"), 0, -1)
        scheduled = conn.zrange(keys.scheduled("default"), 0, -1, withscores=True)
        assert pending == [ids["send_welcome_email"].encode()]
        assert [task_id for task_id, _ in scheduled] == [ids["send_reminder_email"].encode()]
        due = scheduled[0][1]
        assert start + DAY - 1 <= due <= time.time() + DAY + 1
        for task_type, task_id in ids.items():
            msg = codec.decode_task(conn.hget(keys.task("default", task_id), "msg"))
            assert (msg.type, msg.payload) == (task_type, b'{"user_id":42}')


def test_producer_on_the_memory_broker_by_default() -> None:
    result = run_example("producer.py")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^enqueued send_welcome_email: .* queue=default state=pending$", result.stdout, re.M)
    assert re.search(r"^enqueued send_reminder_email: .* queue=default state=scheduled$", result.stdout, re.M)


def test_producer_reports_a_bad_uri() -> None:
    result = run_example("producer.py", "--uri", "http://localhost:6379")
    assert result.returncode == 1
    assert "unsupported broker URL scheme 'http'" in result.stderr
