"""The seed's ``asynqmon stats``: tasks by state and by queue, today's counts, Redis info;
``--watch N`` redraws it in place every N seconds, for what the seed did with ``watch -n 3``."""

from __future__ import annotations

import argparse
import sys
import time

from asynq.cli import output as out
from asynq.cli.connection import positive_seconds
from asynq.cli.registry import Command
from asynq.errors import AsynqError
from asynq.inspector import SIZED_STATES, CurrentStats, Inspector

CLEAR = "\x1b[H\x1b[2J"
"""Cursor home, clear the screen."""


def render(stats: CurrentStats) -> str:
    states = [s.value for s in SIZED_STATES]
    by_state = out.table(states, [[stats.by_state.get(s, 0) for s in SIZED_STATES]])
    if stats.queues:
        titles = [q.queue + (" (paused)" if q.paused else "") for q in stats.queues]
        by_queue = out.table(titles, [[q.size for q in stats.queues]])
    else:
        by_queue = "No queues"
    daily = out.table(
        ["processed", "failed", "error rate"],
        [[stats.processed, stats.failed, out.error_rate(stats.processed, stats.failed)]],
    )
    b = stats.broker
    uptime = out.duration(b.uptime_seconds) if b.uptime_seconds is not None else None
    redis = out.table(
        ["version", "uptime", "connections", "memory usage", "peak memory usage"],
        [[b.version, uptime, b.connected_clients,
          b.used_memory_human and b.used_memory_human + "B", b.used_memory_peak_human and b.used_memory_peak_human + "B"]],
    )
    return "\n\n".join([
        "Task Count by State\n" + by_state,
        "Task Count by Queue\n" + by_queue,
        f"Daily Stats {stats.timestamp.date().isoformat()} UTC\n" + daily,
        f"Redis Info ({b.address})\n" + redis,
    ])


def stats(insp: Inspector, args: argparse.Namespace) -> out.Result | int:
    if args.watch is None:
        current = insp.current_stats()
        return out.Result(out.stats_json(current), render(current))
    return watch(insp, args.watch, args.json)


def watch(insp: Inspector, interval: float, as_json: bool) -> int:
    """Redraw until Ctrl-C (which exits 0). The first reading must succeed; later failures
    (Redis restarting) are shown in the frame and the next reading tries again."""
    first = True
    try:
        while True:
            try:
                current = insp.current_stats()
                body = out.dumps(out.stats_json(current), indent=None) if as_json else render(current)
            except AsynqError as exc:
                if first:
                    raise
                body = f"error: {exc}"
            first = False
            if as_json:
                sys.stdout.write(body + "\n")
            else:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
                sys.stdout.write(f"{CLEAR}Every {interval:g}s: stats    {stamp}    (Ctrl-C to quit)\n\n{body}\n")
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        if not as_json:
            sys.stdout.write("\n")
        return 0


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--watch", type=positive_seconds, metavar="N", help="redraw every N seconds until Ctrl-C (with --json: one line each)"
    )


COMMANDS = [
    Command(None, None, stats, "tasks by state and by queue, today's counts and Redis info",
            _configure, seed="stats"),
]
