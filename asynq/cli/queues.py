"""``asynq queue ...`` and the seed's ``history`` and ``rmq``."""

from __future__ import annotations

import argparse
from typing import Any

from asynq.cli import output as out
from asynq.cli.registry import Command
from asynq.errors import QueueNotFoundError
from asynq.inspector import SIZED_STATES, Inspector, QueueInfo

STATE_HEADERS = [s.value for s in SIZED_STATES]
STATE_TITLES = [s.title() for s in STATE_HEADERS]


def queue_infos(insp: Inspector) -> list[QueueInfo]:
    infos = []
    for name in insp.queues():
        try:
            infos.append(insp.get_queue_info(name))
        except QueueNotFoundError:  # removed since it was listed
            continue
    return infos


def list_queues(insp: Inspector, args: argparse.Namespace) -> out.Result:
    infos = queue_infos(insp)
    data = [out.queue_json(i) for i in infos]
    if not infos:
        return out.Result(data, "No queues")
    rows = [
        [i.queue, "paused" if i.paused else "running", i.size, *(getattr(i, s) for s in STATE_HEADERS),
         i.processed, i.failed, out.duration(i.latency.total_seconds())]
        for i in infos
    ]
    headers = ["Queue", "State", "Size", *STATE_TITLES, "Processed Today", "Failed Today", "Latency"]
    return out.Result(data, out.table(headers, rows))


def inspect_queue(insp: Inspector, args: argparse.Namespace) -> out.Result:
    info = insp.get_queue_info(args.queue_name)
    text = out.fields([
        ("Queue", info.queue),
        ("State", "paused" if info.paused else "running"),
        ("Size", info.size),
        ("Latency", out.duration(info.latency.total_seconds())),
        ("Memory", out.size(info.memory_usage)),
        ("Processed", f"{info.processed} today, {info.processed_total} in total"),
        ("Failed", f"{info.failed} today, {info.failed_total} in total"),
        ("Error rate", f"{out.error_rate(info.processed, info.failed)} today"),
        ("Timestamp", out.iso(info.timestamp)),
    ])
    text += "\n\n" + out.table(STATE_TITLES, [[getattr(info, s) for s in STATE_HEADERS]])
    return out.Result(out.queue_json(info), text)


def history(insp: Inspector, args: argparse.Namespace) -> out.Result:
    queues = args.queue_names or insp.queues()
    per_queue = {q: insp.history(q, days=args.days) for q in queues}
    days: list[dict[str, Any]] = []
    for i in range(args.days if queues else 0):
        counts = {q: per_queue[q][i] for q in queues}
        processed = sum(c.processed for c in counts.values())
        failed = sum(c.failed for c in counts.values())
        days.append({
            "date": next(iter(counts.values())).date.isoformat(),
            "processed": processed,
            "failed": failed,
            "error_rate": failed / processed if processed else 0.0,
            "by_queue": {q: {"processed": c.processed, "failed": c.failed} for q, c in counts.items()},
        })
    data = {"queues": list(queues), "days": days}
    if not queues:
        return out.Result(data, "No queues")
    rows = [[d["date"], d["processed"], d["failed"], out.error_rate(d["processed"], d["failed"])] for d in days]
    title = f"Queue {queues[0]}" if len(queues) == 1 else f"Queues {', '.join(queues)} (together)"
    return out.Result(data, title + "\n" + out.table(["Date (UTC)", "Processed", "Failed", "Error Rate"], rows))


def _pause(paused: bool) -> Any:
    def handler(insp: Inspector, args: argparse.Namespace) -> out.Result:
        data, lines = [], []
        for queue in args.queue_names:
            changed = insp.pause_queue(queue) if paused else insp.unpause_queue(queue)
            data.append({"queue": queue, "paused": paused, "changed": changed})
            verb = "paused" if paused else "resumed"
            lines.append(f"Queue {queue!r} {verb}" if changed else f"Queue {queue!r} was already {verb}")
        return out.Result(data, "\n".join(lines))

    return handler


pause_queue = _pause(True)
resume_queue = _pause(False)


def remove_queue(insp: Inspector, args: argparse.Namespace) -> out.Result:
    insp.delete_queue(args.queue_name, force=args.force)
    return out.Result({"queue": args.queue_name, "removed": True}, f"Removed queue {args.queue_name!r}")


def _one_queue(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue_name", metavar="QUEUE")


def _queues(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue_names", metavar="QUEUE", nargs="+")


def _history_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue_names", metavar="QUEUE", nargs="*", help="the queues to add up (default: all)")
    parser.add_argument("--days", type=_days, default=7, help="how many days back, today included (default: 7)")


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 90:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 90, got {text!r}")
    return int(text)


def _remove_args(parser: argparse.ArgumentParser) -> None:
    _one_queue(parser)
    parser.add_argument(
        "-f", "--force", action="store_true", help="delete the queue even if it holds tasks (never active ones)"
    )


COMMANDS = [
    Command("queue", "list", list_queues, "list queues with their sizes, state and today's counts"),
    Command("queue", "inspect", inspect_queue, "show one queue in detail", _one_queue),
    Command("queue", "history", history, "processed and failed tasks per UTC day", _history_args, seed="history"),
    Command("queue", "pause", pause_queue, "stop workers taking tasks from the queues", _queues),
    Command("queue", "resume", resume_queue, "let workers take tasks from paused queues again", _queues),
    Command("queue", "remove", remove_queue, "remove a queue (with --force even if it holds tasks)",
            _remove_args, seed="rmq"),
]
