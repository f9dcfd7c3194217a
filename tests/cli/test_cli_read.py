"""The read commands against one shared world (see conftest.py), as tables and as JSON;
and the errors of commands that would change it but must not (bad IDs, wrong states,
unknown queues)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_world import Cli, World, build_world, cli_env, run_cli

from brokers import RedisServer

ASYNQMON = str(Path(sys.executable).parent / "asynqmon")
"""The console script of the environment running the tests."""
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def shared(redis_server: RedisServer) -> Iterator[World]:
    """One world for every test of this module: none of them changes it."""
    yield from build_world(redis_server.url)


@pytest.fixture
def cli(shared: World) -> Cli:
    return Cli(shared.url)


def rows(text: str) -> list[list[str]]:
    """A table's body: the lines after the dashed line, split on runs of 2+ spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("--")) + 1
    body = []
    for line in lines[start:]:
        if not line.strip():
            break
        body.append(re.split(r"\s{2,}", line.strip()))
    return body


def section(text: str, title: str) -> str:
    """The block of ``stats`` output that starts with ``title``."""
    return next(block for block in text.split("\n\n") if block.startswith(title))


def test_cli_stats_shows_every_state_every_queue_today_and_redis(cli: Cli, shared: World) -> None:
    # The seed's name, through the installed console script; then --json.
    table = run_cli(["stats", "-u", shared.url.removeprefix("redis://")], program=[ASYNQMON]).ok()
    data = cli("stats", "--json").json()

    by_state = section(table, "Task Count by State")
    assert by_state.splitlines()[1].split() == ["pending", "active", "scheduled", "retry", "archived", "completed"]
    assert rows(by_state) == [["2", "1", "1", "1", "1", "1"]]
    by_queue = section(table, "Task Count by Queue")
    assert re.split(r"\s{2,}", by_queue.splitlines()[1]) == ["critical (paused)", "default"]
    assert rows(by_queue) == [["2", "5"]]
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    daily = section(table, f"Daily Stats {today} UTC")
    # Each attempt counts as processed, each failed one as failed too: kept; dead; later's first.
    assert rows(daily) == [["3", "2", "66.67%"]]
    redis_info = section(table, "Redis Info")
    version = rows(redis_info)[0][0]
    assert re.match(r"^\d+\.\d+\.\d+$", version), redis_info

    assert data["by_state"] == {"pending": 2, "active": 1, "scheduled": 1, "retry": 1, "archived": 1, "completed": 1}
    assert [(q["queue"], q["paused"], q["size"]) for q in data["queues"]] == [("critical", True, 2), ("default", False, 5)]
    assert data["daily"] == {"date": today, "processed": 3, "failed": 2, "error_rate": 2 / 3}
    assert data["broker"]["version"] == version
    assert set(data["broker"]) == {
        "address", "version", "uptime_seconds", "connected_clients", "used_memory", "used_memory_human",
        "used_memory_peak_human",
    }
    assert ISO_UTC.match(data["timestamp"])


TASK_KEYS = {
    "id", "queue", "type", "state", "payload", "payload_base64", "max_retry", "retried", "last_error",
    "last_failed_at", "next_process_at", "timeout_seconds", "deadline", "retention_seconds", "completed_at",
    "headers", "result", "result_base64", "is_orphaned",
}
IN_AN_HOUR = r"in (5\dm(\d+s)?|1h)"
AGO = r"(\d+[dhms])+ ago|now"


def test_cli_ls_lists_every_state_with_its_own_columns(cli: Cli, shared: World) -> None:
    ids = shared.ids
    # The seed's names (and its state aliases) for tables, the modern ones for JSON.
    commands = [
        ("ls", "enqueued:critical"), ("task", "list", "pending", "--queue", "critical", "--json"),
        ("ls", "inprogress"), ("task", "list", "active", "--json"),
        ("ls", "scheduled"), ("task", "list", "scheduled", "--json"),
        ("ls", "retry"), ("task", "list", "retry", "--json"),
        ("ls", "dead"), ("task", "list", "archived:default", "--json"),
        ("ls", "completed"), ("task", "list", "completed", "--json"),
        ("ls", "pending"),
    ]
    results = cli.many(*commands)
    states = ["pending", "active", "scheduled", "retry", "archived", "completed"]
    tables = {state: results[2 * i].ok() for i, state in enumerate(states)}
    listed = {state: results[2 * i + 1].json() for i, state in enumerate(states)}

    def header(text: str) -> list[str]:
        return re.split(r"\s{2,}", text.splitlines()[0])

    base = ["ID", "Queue", "Type", "Payload"]
    assert header(tables["pending"]) == base
    assert rows(tables["pending"]) == [
        [ids["waiting1"], "critical", "email", '{"to":"a@example.com"}'],
        [ids["waiting2"], "critical", "email", '{"to":"b@example.com"}'],
    ]
    assert tables["pending"].endswith("\n\nShowing 2 pending tasks from page 1\n")
    assert header(tables["active"]) == [*base, "Orphaned"]
    assert rows(tables["active"]) == [[ids["hang"], "default", "hang", '{"n":1}', "no"]]
    assert header(tables["scheduled"]) == [*base, "Process In"]
    (row,) = rows(tables["scheduled"])
    assert row[:4] == [ids["scheduled"], "default", "ok", '{"when":"later"}'] and re.fullmatch(IN_AN_HOUR, row[4])
    assert header(tables["retry"]) == [*base, "Next Retry", "Retried", "Max Retry", "Last Error"]
    (row,) = rows(tables["retry"])
    assert row[:4] == [ids["later"], "default", "fail:later", '{"n":3}'] and re.fullmatch(IN_AN_HOUR, row[4])
    assert row[5:] == ["1", "3", "RuntimeError: boom: fail:later"]
    assert header(tables["archived"]) == [*base, "Last Failed", "Retried", "Max Retry", "Last Error"]
    (row,) = rows(tables["archived"])
    assert row[:4] == [ids["dead"], "default", "fail:now", '{"n":2}'] and re.fullmatch(AGO, row[4])
    assert row[5:] == ["0", "0", "RuntimeError: boom: fail:now"]
    assert header(tables["completed"]) == [*base, "Completed", "Result"]
    (row,) = rows(tables["completed"])
    assert row[:4] == [ids["kept"], "default", "ok", '{"keep":true}'] and row[5] == "done"
    assert results[-1].ok() == "No pending tasks in queue 'default'\n"

    expected = {
        "pending": ("critical", [ids["waiting1"], ids["waiting2"]]),
        "active": ("default", [ids["hang"]]),
        "scheduled": ("default", [ids["scheduled"]]),
        "retry": ("default", [ids["later"]]),
        "archived": ("default", [ids["dead"]]),
        "completed": ("default", [ids["kept"]]),
    }
    for state, data in listed.items():
        queue, task_ids = expected[state]
        assert {k: data[k] for k in ("queue", "state", "page", "size")} == {
            "queue": queue, "state": state, "page": 1, "size": 30,
        }
        assert [t["id"] for t in data["tasks"]] == task_ids
        for task in data["tasks"]:
            assert set(task) == TASK_KEYS
            assert (task["state"], task["queue"]) == (state, queue)
    retry = listed["retry"]["tasks"][0]
    assert (retry["retried"], retry["max_retry"], retry["last_error"]) == (1, 3, "RuntimeError: boom: fail:later")
    assert ISO_UTC.match(retry["next_process_at"]) and ISO_UTC.match(retry["last_failed_at"])
    assert listed["pending"]["tasks"][0]["payload"] == {"to": "a@example.com"}
    assert listed["completed"]["tasks"][0]["result"] == "done"
    assert listed["completed"]["tasks"][0]["retention_seconds"] == 3600
    assert listed["active"]["tasks"][0]["is_orphaned"] is False


def test_cli_task_list_pages(cli: Cli, shared: World) -> None:
    first, second, past, as_json = cli.many(
        ("ls", "pending:critical", "--size", "1"),
        ("task", "list", "pending", "-q", "critical", "--size", "1", "--page", "2"),
        ("ls", "pending:critical", "--size", "1", "--page", "3"),
        ("task", "list", "pending:critical", "--size", "1", "--page", "2", "--json"),
    )
    assert [r[0] for r in rows(first.ok())] == [shared.ids["waiting1"]]
    assert "Showing 1 pending tasks from page 1 (next: --page 2)" in first.ok()
    assert [r[0] for r in rows(second.ok())] == [shared.ids["waiting2"]]
    assert past.ok() == "No pending tasks in queue 'critical' on page 3\n"
    data = as_json.json()
    assert (data["page"], data["size"], [t["id"] for t in data["tasks"]]) == (2, 1, [shared.ids["waiting2"]])


def test_cli_task_inspect_finds_the_queue_or_takes_it(cli: Cli, shared: World) -> None:
    ids = shared.ids
    roles = ["hang", "scheduled", "later", "dead", "kept", "waiting1"]
    results = cli.many(
        *(("task", "inspect", ids[role], "--json") for role in roles),
        ("task", "inspect", ids["later"], "--queue", "default"),
    )
    states = {role: r.json()["state"] for role, r in zip(roles, results)}
    assert states == {
        "hang": "active", "scheduled": "scheduled", "later": "retry", "dead": "archived", "kept": "completed",
        "waiting1": "pending",
    }
    assert results[-2].json()["queue"] == "critical"
    assert results[4].json()["result"] == "done"
    fields = dict(re.split(r":\s+", line, maxsplit=1) for line in results[-1].ok().splitlines())
    assert fields["ID"] == ids["later"]
    assert (fields["Queue"], fields["Type"], fields["State"], fields["Payload"]) == (
        "default", "fail:later", "retry", '{"n":3}',
    )
    assert (fields["Retried"], fields["Max Retry"], fields["Last Error"]) == ("1", "3", "RuntimeError: boom: fail:later")
    assert re.fullmatch(r"\S+Z \(" + IN_AN_HOUR + r"\)", fields["Next Process"])


def test_cli_queue_list_inspect_and_history(cli: Cli, shared: World) -> None:
    listed, listed_json, inspected, inspected_json, seed_history, history_json = cli.many(
        ("queue", "list"),
        ("queue", "list", "--json"),
        ("queue", "inspect", "default"),
        ("queue", "inspect", "critical", "--json"),
        ("history", "--days", "2"),
        ("queue", "history", "default", "critical", "--days", "3", "--json"),
    )
    header = re.split(r"\s{2,}", listed.ok().splitlines()[0])
    assert header == ["Queue", "State", "Size", "Pending", "Active", "Scheduled", "Retry", "Archived", "Completed",
                      "Processed Today", "Failed Today", "Latency"]
    critical, default = rows(listed.ok())
    assert critical[:11] == ["critical", "paused", "2", "2", "0", "0", "0", "0", "0", "0", "0"]
    assert default[:11] == ["default", "running", "5", "0", "1", "1", "1", "1", "1", "3", "2"]
    queues = listed_json.json()
    assert [q["queue"] for q in queues] == ["critical", "default"]
    assert set(queues[0]) == {
        "queue", "paused", "size", "pending", "active", "scheduled", "retry", "archived", "completed", "processed",
        "failed", "processed_total", "failed_total", "latency_seconds", "memory_usage", "timestamp",
    }
    assert queues[0]["latency_seconds"] > 0  # its oldest pending task has waited since the world began

    fields = dict(re.split(r":\s+", line, maxsplit=1) for line in inspected.ok().split("\n\n")[0].splitlines())
    assert (fields["Queue"], fields["State"], fields["Size"]) == ("default", "running", "5")
    assert (fields["Processed"], fields["Failed"]) == ("3 today, 3 in total", "2 today, 2 in total")
    assert fields["Error rate"] == "66.67% today"
    assert rows(inspected.ok().split("\n\n")[1]) == [["0", "1", "1", "1", "1", "1"]]
    info = inspected_json.json()
    assert (info["queue"], info["paused"], info["pending"], info["size"]) == ("critical", True, 2, 2)

    today = dt.datetime.now(dt.timezone.utc).date()
    yesterday = today - dt.timedelta(days=1)
    text = seed_history.ok()
    assert text.splitlines()[0] == "Queues critical, default (together)"
    assert rows(text) == [[today.isoformat(), "3", "2", "66.67%"], [yesterday.isoformat(), "0", "0", "N/A"]]
    history = history_json.json()
    assert history["queues"] == ["default", "critical"]
    assert [d["date"] for d in history["days"]] == [(today - dt.timedelta(days=i)).isoformat() for i in range(3)]
    assert history["days"][0] == {
        "date": today.isoformat(), "processed": 3, "failed": 2, "error_rate": 2 / 3,
        "by_queue": {"default": {"processed": 3, "failed": 2}, "critical": {"processed": 0, "failed": 0}},
    }


def test_cli_servers_and_their_workers(cli: Cli, shared: World) -> None:
    ps, servers, workers, workers_json = cli.many(
        ("ps",), ("server", "list", "--json"), ("workers",), ("server", "list", "--workers", "--json"),
    )
    assert rows(ps.ok()) == [[socket.gethostname(), str(os.getpid()), "active", "1/4", "default:1",
                              rows(ps.ok())[0][5]]]
    assert re.fullmatch(AGO, rows(ps.ok())[0][5])
    (server,) = servers.json()
    assert {k: server[k] for k in ("host", "pid", "status", "concurrency", "queues", "strict_priority")} == {
        "host": socket.gethostname(), "pid": os.getpid(), "status": "active", "concurrency": 4,
        "queues": {"default": 1}, "strict_priority": False,
    }
    assert [w["task_id"] for w in server["active_workers"]] == [shared.ids["hang"]]
    assert ISO_UTC.match(server["started"])

    (row,) = rows(workers.ok())
    assert row[:5] == [f"{socket.gethostname()}:{os.getpid()}", shared.ids["hang"], "hang", '{"n":1}', "default"]
    (worker,) = workers_json.json()
    assert {k: worker[k] for k in ("server_id", "task_id", "task_type", "queue", "payload")} == {
        "server_id": server["id"], "task_id": shared.ids["hang"], "task_type": "hang", "queue": "default",
        "payload": {"n": 1},
    }


def test_cli_refuses_what_does_not_apply_and_changes_nothing(cli: Cli, shared: World) -> None:
    ids = shared.ids
    cases = {
        # unknown IDs: TaskNotFoundError's text
        ("task", "inspect", "no-such-id"): "no task 'no-such-id' in any queue (critical, default)",
        ("enq", "no-such-id", "--queue", "default"): "no task 'no-such-id' in queue 'default'",
        # wrong states: TaskStateError's text
        ("enq", ids["waiting1"]): f"cannot run task '{ids['waiting1']}' in queue 'critical': it is pending "
                                  "(only scheduled, retry, archived tasks can be)",
        ("del", ids["hang"]): f"cannot delete task '{ids['hang']}' in queue 'default': it is active",
        ("kill", ids["kept"]): f"cannot archive task '{ids['kept']}' in queue 'default': it is completed",
        ("cancel", ids["scheduled"]): f"cannot cancel task '{ids['scheduled']}' in queue 'default': it is scheduled "
                                      "(only active tasks can be)",
        ("enqall", "pending"): "cannot run all pending tasks; only scheduled, retry, archived ones",
        ("killall", "completed"): "cannot archive all completed tasks; only pending, scheduled, retry ones",
        ("rmq", "critical"): "queue 'critical' holds 2 task(s); force the removal to delete them",
        ("queue", "remove", "default", "--force"): "queue 'default' has 1 active task(s); wait for them to finish",
        # unknown queues and states
        ("ls", "pending:nosuch"): "queue 'nosuch' does not exist",
        ("queue", "inspect", "nosuch"): "queue 'nosuch' does not exist",
        ("delall", "retry", "-q", "nosuch"): "queue 'nosuch' does not exist",
        ("ls", "bogus"): "unknown task state 'bogus'; use one of pending, active, scheduled, retry, archived, "
                         "completed (or enqueued, inprogress, dead)",
        ("ls", "retry:default", "--queue", "critical"): "two queues given: 'default' (after the state) and "
                                                       "'critical' (--queue)",
    }
    for args, result in zip(cases, cli.many(*cases)):
        line = result.error()
        assert line.startswith("asynq: error: ") and cases[args] in line, (args, line)
    assert shared.sizes() == {"pending": 0, "active": 1, "scheduled": 1, "retry": 1, "archived": 1, "completed": 1}
    assert shared.sizes("critical")["pending"] == 2


def test_cli_stats_watch_redraws_until_ctrl_c(shared: World, tmp_path: Path) -> None:
    outputs = {name: tmp_path / f"{name}.out" for name in ("table", "json")}
    procs = {}
    for name, extra in (("table", []), ("json", ["--json"])):
        with outputs[name].open("w") as stdout:
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "asynq.cli", "stats", "--watch", "0.2", *extra, "-u", shared.url],
                stdout=stdout, stderr=subprocess.PIPE, text=True, env=cli_env(),
            )
    deadline = time.monotonic() + 15
    while (outputs["table"].read_text().count("\x1b[H\x1b[2J") < 2
           or len(outputs["json"].read_text().splitlines()) < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in procs.values():
        proc.send_signal(signal.SIGINT)
    for name, proc in procs.items():
        _, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 0, stderr
        assert stderr == ""
    frames = outputs["table"].read_text().split("\x1b[H\x1b[2J")[1:]
    assert len(frames) >= 2
    for frame in frames[:2]:
        assert frame.startswith("Every 0.2s: stats")
        assert "Task Count by State" in frame and "critical (paused)" in frame and "Redis Info" in frame
    lines = outputs["json"].read_text().splitlines()
    assert len(lines) >= 2
    assert all(json.loads(line)["by_state"]["pending"] == 2 for line in lines)
