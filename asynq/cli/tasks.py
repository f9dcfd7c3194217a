"""``asynq task ...`` and the seed's ``ls``, ``enq``, ``enqall``, ``del``, ``delall``, ``kill``,
``killall`` and ``cancel``.

A task is named by its ID with ``--queue QUEUE``; without ``--queue`` the command finds the
queue that holds a task with that ID (and asks for ``--queue`` if several do).
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable

from asynq.brokers.base import TaskState
from asynq.cli import output as out
from asynq.cli.registry import Command, add_state, add_task_id, state_and_queue
from asynq.errors import QueueNotFoundError, TaskNotFoundError, TaskStateError
from asynq.inspector import Inspector, TaskDetails

S = TaskState

# --- finding a task ---------------------------------------------------------------------------


def locate(insp: Inspector, task_id: str, queue: str | None) -> TaskDetails:
    """The task ``task_id`` in ``queue``, or in whichever queue holds it when ``queue`` is None."""
    if queue is not None:
        return insp.get_task_info(queue, task_id)
    names = insp.queues()
    found = []
    for name in sorted(names, key=lambda q: (q != "default", q)):
        try:
            found.append(insp.get_task_info(name, task_id))
        except (TaskNotFoundError, QueueNotFoundError):
            continue
    if not found:
        where = f"any queue ({', '.join(names)})" if names else "any queue (there are none)"
        raise TaskNotFoundError(f"no task {task_id!r} in {where}")
    if len(found) > 1:
        raise ValueError(
            f"tasks with ID {task_id!r} exist in queues {', '.join(t.queue for t in found)}; pick one with --queue"
        )
    return found[0]


# --- reading ----------------------------------------------------------------------------------

_Column = tuple[str, Callable[[TaskDetails, dt.datetime], object]]
_RETRIES: list[_Column] = [("Retried", lambda t, now: t.retried), ("Max Retry", lambda t, now: t.max_retry)]
_ERROR: _Column = ("Last Error", lambda t, now: out.clip(t.last_error) if t.last_error else None)
STATE_COLUMNS: dict[TaskState, list[_Column]] = {
    S.PENDING: [],
    S.ACTIVE: [("Orphaned", lambda t, now: t.is_orphaned)],
    S.SCHEDULED: [("Process In", lambda t, now: out.relative(t.next_process_at, now))],
    S.RETRY: [("Next Retry", lambda t, now: out.relative(t.next_process_at, now)), *_RETRIES, _ERROR],
    S.ARCHIVED: [("Last Failed", lambda t, now: out.relative(t.last_failed_at, now)), *_RETRIES, _ERROR],
    S.COMPLETED: [
        ("Completed", lambda t, now: out.relative(t.completed_at, now)),
        ("Result", lambda t, now: out.preview(t.result)),
    ],
}
"""What a list shows of each state besides ID, queue, type and payload."""


def list_tasks(insp: Inspector, args: argparse.Namespace) -> out.Result:
    state, queue = state_and_queue(args)
    tasks = getattr(insp, f"list_{state.value}_tasks")(queue, page=args.page, page_size=args.size)
    data = {
        "queue": queue, "state": state.value, "page": args.page, "size": args.size,
        "tasks": [out.task_json(t) for t in tasks],
    }
    if not tasks:
        more = f" on page {args.page}" if args.page > 1 else ""
        return out.Result(data, f"No {state.value} tasks in queue {queue!r}{more}")
    now = dt.datetime.now(dt.timezone.utc)
    columns = STATE_COLUMNS[state]
    rows = [
        [t.id, t.queue, t.type, out.preview(t.payload.raw), *(get(t, now) for _, get in columns)] for t in tasks
    ]
    text = out.table(["ID", "Queue", "Type", "Payload", *(name for name, _ in columns)], rows)
    text += f"\n\nShowing {len(tasks)} {state.value} tasks from page {args.page}"
    if len(tasks) == args.size:
        text += f" (next: --page {args.page + 1})"
    return out.Result(data, text)


def inspect_task(insp: Inspector, args: argparse.Namespace) -> out.Result:
    task = locate(insp, args.id, args.queue)
    now = dt.datetime.now(dt.timezone.utc)

    def when(value: dt.datetime | None) -> str | None:
        return None if value is None else f"{out.iso(value)} ({out.relative(value, now)})"

    pairs: list[tuple[str, object]] = [
        ("ID", task.id),
        ("Queue", task.queue),
        ("Type", task.type),
        ("State", task.state.value),
        ("Payload", _full_text(task.payload.raw)),
        ("Max Retry", task.max_retry),
        ("Retried", task.retried),
        ("Last Error", task.last_error or None),
        ("Last Failed", when(task.last_failed_at)),
        ("Next Process", when(task.next_process_at) if task.state is not S.COMPLETED else None),
        ("Timeout", out.duration(task.timeout.total_seconds()) if task.timeout else None),
        ("Deadline", when(task.deadline)),
        ("Retention", out.duration(task.retention.total_seconds()) if task.retention else None),
        ("Completed", when(task.completed_at)),
        ("Result", _full_text(task.result) if task.result is not None else None),
        ("Headers", ", ".join(f"{k}={v}" for k, v in sorted(task.headers.items())) or None),
    ]
    if task.state is S.ACTIVE:
        pairs.append(("Orphaned", task.is_orphaned))
    return out.Result(out.task_json(task), out.fields(pairs))


def _full_text(raw: bytes) -> str:
    """All of it when it is text, else its size."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(raw)} bytes>"


# --- changing one task ------------------------------------------------------------------------


def _change(verb: str, outcome: str) -> Callable[[Inspector, argparse.Namespace], out.Result]:
    def handler(insp: Inspector, args: argparse.Namespace) -> out.Result:
        queue = args.queue or locate(insp, args.id, None).queue
        getattr(insp, f"{verb}_task")(queue, args.id)
        data = {"id": args.id, "queue": queue, "action": verb, "state": outcome}
        text = f"Deleted task {args.id} from queue {queue!r}" if verb == "delete" else (
            f"Task {args.id} in queue {queue!r} is now {outcome}"
        )
        return out.Result(data, text)

    handler.__name__ = f"{verb}_task"
    return handler


run_task = _change("run", "pending")
archive_task = _change("archive", "archived")
delete_task = _change("delete", "deleted")


def cancel_task(insp: Inspector, args: argparse.Namespace) -> out.Result:
    task = locate(insp, args.id, args.queue)
    if task.state is not S.ACTIVE:
        raise TaskStateError(
            f"cannot cancel task {task.id!r} in queue {task.queue!r}: it is {task.state.value} "
            "(only active tasks can be)"
        )
    insp.cancel_processing(task.id)
    data = {"id": task.id, "queue": task.queue, "action": "cancel", "state": "cancel requested"}
    return out.Result(data, f"Asked the worker processing task {task.id} (queue {task.queue!r}) to cancel it")


# --- changing all tasks of a state ------------------------------------------------------------

RUN_ALL = (S.SCHEDULED, S.RETRY, S.ARCHIVED)
ARCHIVE_ALL = (S.PENDING, S.SCHEDULED, S.RETRY)
DELETE_ALL = (S.PENDING, S.SCHEDULED, S.RETRY, S.ARCHIVED, S.COMPLETED)


def _names(states: tuple[TaskState, ...]) -> str:
    return "|".join(s.value for s in states)


def _change_all(verb: str, method: str, states: tuple[TaskState, ...], done: str) -> Callable[..., out.Result]:
    def handler(insp: Inspector, args: argparse.Namespace) -> out.Result:
        state, queue = state_and_queue(args)
        if state not in states:
            raise ValueError(
                f"cannot {verb} all {state.value} tasks; only {', '.join(s.value for s in states)} ones"
            )
        count = getattr(insp, f"{method}_all_{state.value}_tasks")(queue)
        data = {"queue": queue, "state": state.value, "action": f"{verb}all", "count": count}
        return out.Result(data, done.format(count=count, state=state.value, queue=queue))

    handler.__name__ = f"{verb}_all"
    return handler


run_all = _change_all("run", "run", RUN_ALL, "{count} {state} tasks in queue {queue!r} are now pending")
archive_all = _change_all("archive", "archive", ARCHIVE_ALL, "Archived {count} {state} tasks in queue {queue!r}")
delete_all = _change_all("delete", "delete", DELETE_ALL, "Deleted {count} {state} tasks from queue {queue!r}")


# --- the commands -----------------------------------------------------------------------------


def _configure_list(parser: argparse.ArgumentParser) -> None:
    add_state(parser, "pending (enqueued), active (inprogress), scheduled, retry, archived (dead) or completed")
    parser.add_argument("--page", type=_positive, default=1, help="page number, from 1 (default: 1)")
    parser.add_argument("--size", type=_positive, default=30, help="tasks per page (default: 30)")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def _bulk(states: tuple[TaskState, ...]) -> Callable[[argparse.ArgumentParser], None]:
    return lambda parser: add_state(parser, _names(states))


COMMANDS = [
    Command("task", "list", list_tasks, "list the tasks of a queue in one state, a page at a time",
            _configure_list, seed="ls",
            description="List tasks in one state, a page at a time.\n\n"
                        "  asynq task list retry            retry tasks of queue 'default'\n"
                        "  asynqmon ls scheduled:critical   scheduled tasks of queue 'critical'"),
    Command("task", "inspect", inspect_task, "show everything about one task", add_task_id),
    Command("task", "run", run_task, "run a scheduled, retry or archived task now (move it to pending)",
            add_task_id, seed="enq"),
    Command("task", "archive", archive_task, "archive a pending, scheduled or retry task", add_task_id, seed="kill"),
    Command("task", "delete", delete_task, "delete a task that is not active", add_task_id, seed="del"),
    Command("task", "cancel", cancel_task, "ask the worker processing an active task to cancel it",
            add_task_id, seed="cancel"),
    Command("task", "runall", run_all, f"run all tasks of one state ({_names(RUN_ALL)}) now",
            _bulk(RUN_ALL), seed="enqall"),
    Command("task", "archiveall", archive_all, f"archive all tasks of one state ({_names(ARCHIVE_ALL)})",
            _bulk(ARCHIVE_ALL), seed="killall"),
    Command("task", "deleteall", delete_all, f"delete all tasks of one state ({_names(DELETE_ALL)})",
            _bulk(DELETE_ALL), seed="delall"),
]
