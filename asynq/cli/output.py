"""How the command line shows things: aligned tables for people, JSON for scripts.

Every command returns a :class:`Result`: JSON-able ``data`` (stable keys, datetimes as
ISO-8601 UTC strings, durations in seconds, bytes as text or base64) and the ``text`` a person
reads. ``--json`` prints the first, otherwise the second.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from asynq.brokers.base import BrokerInfo
from asynq.inspector import CurrentStats, QueueInfo, ServerInfo, TaskDetails, WorkerInfo
from asynq.payload import Payload

PREVIEW = 40
"""Characters of a payload, result or error shown in a table cell."""


@attrs.frozen
class Result:
    data: Any
    text: str

    def render(self, as_json: bool) -> str:
        return dumps(self.data) if as_json else self.text


def dumps(data: Any, *, indent: int | None = 2) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False)


# --- tables ------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns padded to their widest cell, two spaces apart, a dashed line under the headers."""
    cells = [[str(c) for c in headers], *([cell(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fields(pairs: Iterable[tuple[str, object]]) -> str:
    """``Name:  value`` lines, the values aligned."""
    pairs = [(name, cell(value)) for name, value in pairs]
    width = max(len(name) for name, _ in pairs) + 1
    return "\n".join(f"{name + ':':<{width}}  {value}".rstrip() for name, value in pairs)


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def clip(text: str, limit: int = PREVIEW) -> str:
    text = " ".join(text.split())  # one line
    return text if len(text) <= limit else text[: limit - 3] + "..."


def preview(raw: bytes | None, limit: int = PREVIEW) -> str:
    """Bytes as text for a table cell: clipped, or their size when they are not UTF-8."""
    if raw is None:
        return "-"
    try:
        return clip(raw.decode("utf-8"), limit)
    except UnicodeDecodeError:
        return f"<{len(raw)} bytes>"


# --- times -------------------------------------------------------------------------------------


def iso(when: dt.datetime | None) -> str | None:
    """ISO-8601 in UTC with a Z, to the millisecond."""
    if when is None:
        return None
    return when.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds(delta: dt.timedelta | None) -> float | None:
    return None if delta is None else round(delta.total_seconds(), 3)


def duration(total: float) -> str:
    """``1d2h``, ``3h4m``, ``5m6s``, ``7s``, ``0.25s``: the two largest units."""
    if total < 10:
        return f"{total:.3g}s" if total else "0s"
    total = round(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    while units[0][0] == 0:
        units.pop(0)
    return "".join(f"{n}{u}" for n, u in units[:2] if n)


def relative(when: dt.datetime | None, now: dt.datetime) -> str | None:
    """``in 5m3s``, ``12s ago`` or ``now``."""
    if when is None:
        return None
    delta = round((when - now).total_seconds())
    if delta == 0:
        return "now"
    return f"in {duration(delta)}" if delta > 0 else f"{duration(-delta)} ago"


def error_rate(processed: int, failed: int) -> str:
    return f"{failed / processed * 100:.2f}%" if processed else "N/A"


def size(n: int | None) -> str | None:
    if n is None:
        return None
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# --- JSON of the inspector's values -----------------------------------------------------------


def _text_or_base64(raw: bytes | None) -> tuple[str | None, str | None]:
    if raw is None:
        return None, None
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, base64.b64encode(raw).decode("ascii")


def payload_json(payload: Payload) -> tuple[Any, str | None]:
    """The payload decoded as JSON, or (None, base64) when it is not JSON."""
    raw = payload.raw
    if not raw:
        return None, None
    try:
        return json.loads(raw.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError):
        return None, base64.b64encode(raw).decode("ascii")


def task_json(task: TaskDetails) -> dict[str, Any]:
    payload, payload_b64 = payload_json(task.payload)
    result, result_b64 = _text_or_base64(task.result)
    return {
        "id": task.id,
        "queue": task.queue,
        "type": task.type,
        "state": task.state.value,
        "payload": payload,
        "payload_base64": payload_b64,
        "max_retry": task.max_retry,
        "retried": task.retried,
        "last_error": task.last_error or None,
        "last_failed_at": iso(task.last_failed_at),
        "next_process_at": iso(task.next_process_at),
        "timeout_seconds": seconds(task.timeout),
        "deadline": iso(task.deadline),
        "retention_seconds": seconds(task.retention),
        "completed_at": iso(task.completed_at),
        "headers": dict(task.headers),
        "result": result,
        "result_base64": result_b64,
        "is_orphaned": task.is_orphaned,
    }


def queue_json(info: QueueInfo) -> dict[str, Any]:
    return {
        "queue": info.queue,
        "paused": info.paused,
        "size": info.size,
        "pending": info.pending,
        "active": info.active,
        "scheduled": info.scheduled,
        "retry": info.retry,
        "archived": info.archived,
        "completed": info.completed,
        "processed": info.processed,
        "failed": info.failed,
        "processed_total": info.processed_total,
        "failed_total": info.failed_total,
        "latency_seconds": seconds(info.latency),
        "memory_usage": info.memory_usage,
        "timestamp": iso(info.timestamp),
    }


def broker_json(info: BrokerInfo) -> dict[str, Any]:
    return {
        "address": info.address,
        "version": info.version,
        "uptime_seconds": info.uptime_seconds,
        "connected_clients": info.connected_clients,
        "used_memory": info.used_memory,
        "used_memory_human": info.used_memory_human,
        "used_memory_peak_human": info.used_memory_peak_human,
    }


def stats_json(stats: CurrentStats) -> dict[str, Any]:
    return {
        "timestamp": iso(stats.timestamp),
        "by_state": {state.value: count for state, count in stats.by_state.items()},
        "queues": [queue_json(q) for q in stats.queues],
        "daily": {
            "date": stats.timestamp.date().isoformat(),
            "processed": stats.processed,
            "failed": stats.failed,
            "error_rate": stats.error_rate,
        },
        "broker": broker_json(stats.broker),
    }


def worker_json(server: ServerInfo, worker: WorkerInfo) -> dict[str, Any]:
    payload, payload_b64 = payload_json(worker.task_payload)
    return {
        "server_id": server.id,
        "host": server.host,
        "pid": server.pid,
        "task_id": worker.task_id,
        "task_type": worker.task_type,
        "queue": worker.queue,
        "payload": payload,
        "payload_base64": payload_b64,
        "started": iso(worker.started),
        "deadline": iso(worker.deadline),
    }


def server_json(server: ServerInfo) -> dict[str, Any]:
    return {
        "id": server.id,
        "host": server.host,
        "pid": server.pid,
        "status": server.status,
        "concurrency": server.concurrency,
        "queues": dict(server.queues),
        "strict_priority": server.strict_priority,
        "started": iso(server.started),
        "active_workers": [worker_json(server, w) for w in server.active_workers],
    }


def queue_weights(queues: Mapping[str, int]) -> str:
    """``critical:6 default:3 low:1``: the highest weight first, as the seed's ``ps``."""
    return " ".join(f"{name}:{weight}" for name, weight in sorted(queues.items(), key=lambda q: (-q[1], q[0])))
