"""Commands as data: each is a handler with its arguments, reachable under a modern name
(``asynq task run``) and, for the seed's commands, under the seed's name (``asynqmon enq``).

Both names build their parser with the same ``configure`` function and call the same
``handler``; a seed name may only preset a few defaults (``workers`` is ``server list --workers``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from asynq.brokers.base import TaskState
from asynq.cli.connection import add_connection_flags
from asynq.cli.output import Result
from asynq.inspector import Inspector

Handler = Callable[[Inspector, argparse.Namespace], "Result | int"]
"""Returns what to print, or an exit status when it printed by itself (``stats --watch``)."""


@attrs.frozen
class Command:
    group: str | None
    """``queue``, ``task`` or ``server``; None for a command that is only top-level (``stats``)."""
    name: str | None
    """The name in the group; None when the command has no group."""
    handler: Handler
    help: str
    configure: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    seed: str | None = None
    """The seed's name for it (``ls``, ``enq`` ...), if it has one."""
    seed_defaults: Mapping[str, Any] = attrs.field(factory=dict)
    description: str | None = None


def add_command(subparsers: Any, name: str, command: Command, defaults: Mapping[str, Any]) -> None:
    parser = subparsers.add_parser(
        name, help=command.help, description=command.description or command.help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.configure(parser)
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS,
        help="print JSON (stable keys, ISO-8601 UTC times) instead of tables",
    )
    add_connection_flags(parser, subcommand=True)
    parser.set_defaults(handler=command.handler, **defaults)


# --- arguments shared by several commands ---------------------------------------------------

STATE_ALIASES = {"enqueued": TaskState.PENDING, "inprogress": TaskState.ACTIVE, "dead": TaskState.ARCHIVED}
"""The seed's (Go asynqmon's) state names, still accepted."""
LISTED_STATES = (
    TaskState.PENDING, TaskState.ACTIVE, TaskState.SCHEDULED, TaskState.RETRY, TaskState.ARCHIVED,
    TaskState.COMPLETED,
)


def parse_state(text: str) -> TaskState:
    name = text.strip().lower()
    if name in STATE_ALIASES:
        return STATE_ALIASES[name]
    for state in LISTED_STATES:
        if state.value == name:
            return state
    names = ", ".join(s.value for s in LISTED_STATES)
    raise ValueError(f"unknown task state {text!r}; use one of {names} (or enqueued, inprogress, dead)")


@attrs.frozen
class StateSpec:
    """``STATE[:QUEUE]`` as the seed's ``ls retry:critical``."""

    state: str
    queue: str | None


def state_spec(text: str) -> StateSpec:
    state, sep, queue = text.partition(":")
    if sep and not queue:
        raise argparse.ArgumentTypeError(f"{text!r}: no queue name after ':'")
    return StateSpec(state, queue or None)


def add_state(parser: argparse.ArgumentParser, states: str) -> None:
    parser.add_argument(
        "state", type=state_spec, metavar="STATE[:QUEUE]",
        help=f"{states}; ':QUEUE' picks the queue as --queue does",
    )
    add_queue(parser, "the queue (default: default)")


def add_queue(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("-q", "--queue", metavar="QUEUE", help=help)


def add_task_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID", help="the task ID (as `ls` / `task list` print it)")
    add_queue(parser, "the task's queue (default: whichever queue holds a task with that ID)")


def state_and_queue(args: argparse.Namespace) -> tuple[TaskState, str]:
    spec: StateSpec = args.state
    if spec.queue and args.queue and spec.queue != args.queue:
        raise ValueError(f"two queues given: {spec.queue!r} (after the state) and {args.queue!r} (--queue)")
    return parse_state(spec.state), spec.queue or args.queue or "default"
