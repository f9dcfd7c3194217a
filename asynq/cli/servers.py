"""``asynq server list`` and the seed's ``ps`` (servers) and ``workers`` (their busy workers)."""

from __future__ import annotations

import argparse
import datetime as dt

from asynq.cli import output as out
from asynq.cli.registry import Command
from asynq.inspector import Inspector


def list_servers(insp: Inspector, args: argparse.Namespace) -> out.Result:
    servers = insp.servers()
    now = dt.datetime.now(dt.timezone.utc)
    if args.workers:
        busy = sorted(
            ((s, w) for s in servers for w in s.active_workers), key=lambda sw: (sw[1].started, sw[1].task_id)
        )
        data = [out.worker_json(s, w) for s, w in busy]
        if not busy:
            return out.Result(data, "No workers are processing tasks")
        rows = [
            [f"{s.host}:{s.pid}", w.task_id, w.task_type, out.preview(w.task_payload.raw), w.queue,
             out.relative(w.started, now)]
            for s, w in busy
        ]
        return out.Result(data, out.table(["Server", "Task ID", "Type", "Payload", "Queue", "Started"], rows))
    data = [out.server_json(s) for s in servers]
    if not servers:
        return out.Result(data, "No servers")
    table: list[list[object]] = [
        [s.host, s.pid, s.status, f"{len(s.active_workers)}/{s.concurrency}",
         out.queue_weights(s.queues) + (" (strict)" if s.strict_priority else ""), out.relative(s.started, now)]
        for s in servers
    ]
    return out.Result(data, out.table(["Host", "PID", "State", "Active Workers", "Queues", "Started"], table))


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", action="store_true", help="list the tasks the servers are processing, one per line"
    )


COMMANDS = [
    Command("server", "list", list_servers, "list worker servers (--workers: the tasks they are processing)",
            _configure, seed="ps"),
    Command(None, None, list_servers, "list the tasks worker servers are processing (server list --workers)",
            _configure, seed="workers", seed_defaults={"workers": True}),
]
