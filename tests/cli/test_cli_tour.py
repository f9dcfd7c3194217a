"""The seed's tour: `asynqmon stats` after examples/producer.py (one pending, one scheduled
task), then again after the consumer processed the first one."""

from __future__ import annotations

import subprocess
import sys

from cli_world import REPO_ROOT, Cli, cli_env, wait_for

from asynq import Background, Config, Inspector


def test_cli_seed_tour_stats_before_and_after_the_consumer(redis_url: str, cli: Cli) -> None:
    produced = subprocess.run(
        [sys.executable, "examples/producer.py", "--uri", redis_url],
        cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True, timeout=30, check=False,
    )
    assert produced.returncode == 0, produced.stderr

    before = cli("stats").ok()
    assert "pending  active  scheduled  retry  archived  completed\n" in before
    assert "1        0       1          0      0         0\n" in before
    assert "default\n-------\n2\n" in before

    from examples.consumer import mux

    config = Config(concurrency=2, heartbeat_interval=0.1, forward_interval=0.05, idle_poll_interval=0.05,
                    shutdown_timeout=2)
    bg = Background(redis_url, config)
    bg.start(mux)
    try:
        with Inspector(redis_url) as inspector:
            wait_for(lambda: inspector.get_queue_info("default").processed == 1, "the welcome email")
        after = cli("stats").ok()
    finally:
        bg.shutdown()
    assert "0        0       1          0      0         0\n" in after
    assert "default\n-------\n1\n" in after
    assert "processed  failed  error rate\n---------  ------  ----------\n1          0       0.00%\n" in after
