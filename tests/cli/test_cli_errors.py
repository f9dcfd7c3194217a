"""Connection flags and failures: an unreachable Redis, a wrong password, usage errors; the
default URI and ASYNQ_REDIS_URL. Every failure is one line on stderr and a non-zero exit."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import redis
from cli_world import Cli, cli_env, run_cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_reports_an_unreachable_redis_quickly_in_one_line() -> None:
    port = free_port()
    cli = Cli(f"127.0.0.1:{port}")  # no scheme: redis:// is implied
    commands = [("stats",), ("ls", "retry"), ("enq", "some-id"), ("server", "list", "--json")]
    results = cli.many(*((*args, "--timeout", "0.2", "-p", "hunter2-secret") for args in commands))
    for args, result in zip(commands, results):
        line = result.error()
        assert line.startswith(f"asynq: error: cannot reach the broker at 127.0.0.1:{port}"), (args, line)
        assert "hunter2" not in result.stderr
    # --timeout cuts the wait short (by default the CLI keeps trying for 5 s).
    started = time.monotonic()
    cli("stats", "--timeout", "0.1").error()
    assert time.monotonic() - started < 4.5


@pytest.fixture
def acl_user(redis_url: str) -> Iterator[str]:
    """A user of the suite's Redis with the password ``right-password``."""
    with redis.Redis.from_url(redis_url) as conn:
        conn.acl_setuser("cli-test", enabled=True, passwords=["+right-password"], keys=["*"], channels=["*"],
                         commands=["+@all"])
        try:
            yield "cli-test"
        finally:
            conn.acl_deluser("cli-test")


def test_cli_wrong_password_is_reported_but_never_echoed(redis_url: str, acl_user: str) -> None:
    address = redis_url.removeprefix("redis://").rsplit("/", 1)[0]
    cli = Cli(address)
    wrong_flag, right = cli.many(
        ("queue", "list", "--username", acl_user, "--password", "wrong-secret-1", "--timeout", "0.2"),
        ("queue", "list", "--username", acl_user, "-p", "right-password"),
    )
    wrong_url = run_cli(["queue", "list", "--timeout", "0.2", "-u", f"redis://{acl_user}:wrong-secret-2@{address}"])
    for result, secret in ((wrong_flag, "wrong-secret-1"), (wrong_url, "wrong-secret-2")):
        line = result.error()
        assert line.startswith(f"asynq: error: cannot reach the broker at {address}: invalid username-password pair")
        assert secret not in result.stderr + result.stdout
    assert right.ok() == "No queues\n"


def test_cli_usage_errors_are_one_line_with_status_2() -> None:
    cases = {
        ("bogus",): "asynq: error: argument COMMAND: invalid choice: 'bogus'",
        ("ls",): "asynq ls: error: the following arguments are required: STATE[:QUEUE] (see asynq ls --help)",
        ("ls", "retry", "--page", "0"): "asynq ls: error: argument --page: must be a whole number of at least 1",
        ("history", "--days", "x"): "asynq history: error: argument --days: must be a whole number from 1 to 90",
        ("stats", "--timeout", "0"): "asynq stats: error: argument --timeout: must be more than 0 seconds",
        ("ls", "retry:"): "asynq ls: error: argument STATE[:QUEUE]: 'retry:': no queue name after ':'",
    }

    # Usage is checked before connecting: nothing listens on port 1.
    for (args, message), result in zip(cases.items(), Cli("127.0.0.1:1").many(*cases)):
        line = result.error(status=2)
        assert line.startswith(message), (args, line)


def test_cli_uri_defaults_and_asynq_redis_url(redis_url: str) -> None:
    # Where it connects by default is shown, never tried: 127.0.0.1:6379 is not the suite's.
    help_text = run_cli(["stats", "--help"]).ok()
    assert "$ASYNQ_REDIS_URL or redis://127.0.0.1:6379" in " ".join(help_text.split())
    env = cli_env(ASYNQ_REDIS_URL=redis_url)
    assert run_cli(["queue", "list"], env=env).ok() == "No queues\n"
    assert run_cli(["--json", "queue", "list"], env=env).json() == []  # --json before the command too
    assert run_cli(["stats", "--json"], env=env).json()["broker"]["address"] == redis_url.split("//")[1].split("/")[0]
    # -u after the command wins over the variable; -n picks the database.
    bad = run_cli(["queue", "list", "-u", f"127.0.0.1:{free_port()}", "--timeout", "0.2"], env=env)
    assert "cannot reach the broker" in bad.error()
    line = run_cli(["queue", "list", "-n", "99", "--timeout", "0.2"], env=env).error()
    assert line.startswith("asynq: error: ") and "DB index is out of range" in line
