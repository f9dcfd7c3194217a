"""The ``asynq`` / ``asynqmon`` command line: one program under two names.

``asynq worker`` runs a worker; ``queue``, ``task`` and ``server`` inspect and steer queues,
tasks and worker servers; the seed's asynqmon commands (``stats``, ``ls``, ``enq`` ...) are the
same commands under their old names. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

import attrs

from asynq.cli import queues, servers, stats, tasks, worker
from asynq.cli.connection import add_connection_flags, broker_spec
from asynq.cli.output import Result
from asynq.cli.registry import Command, add_command
from asynq.errors import AsynqError
from asynq.inspector import Inspector

COMMANDS: list[Command] = [*queues.COMMANDS, *tasks.COMMANDS, *servers.COMMANDS, *stats.COMMANDS]
GROUPS = {
    "queue": "list, inspect, pause, resume and remove queues; their daily history",
    "task": "list, inspect, run, archive, delete and cancel tasks",
    "server": "list worker servers and what they are processing",
}
SEED_ORDER = ["stats", "ls", "enq", "enqall", "del", "delall", "kill", "killall", "history", "rmq", "workers",
              "ps", "cancel"]


def program_name() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name in ("asynq", "asynqmon") else "asynq"


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line too, pointing at --help (subcommand parsers inherit this class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog or program_name(),
        description="asynq task queue: run workers, monitor and steer queues and tasks.",
        epilog="Tasks are named by ID with --queue QUEUE; without --queue, the queue holding that ID is found. "
               "Every read command takes --json. See docs/cli.md.",
    )
    add_connection_flags(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    worker.add_parser(subparsers)
    group_parsers = {}
    for group, help in GROUPS.items():
        group_parser = subparsers.add_parser(group, help=help, description=help)
        group_parsers[group] = group_parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    for command in COMMANDS:
        if command.group is not None and command.name is not None:
            add_command(group_parsers[command.group], command.name, command, {})
    seed = {c.seed: c for c in COMMANDS if c.seed}
    for name in SEED_ORDER:
        command = seed[name]
        if command.group is not None:
            command = attrs.evolve(command, help=f"{command.help} (= {command.group} {command.name})")
        add_command(subparsers, name, command, command.seed_defaults)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "worker":
            return worker.run(args, broker_spec(args))
        with Inspector(broker_spec(args)) as insp:
            outcome = args.handler(insp, args)
        if isinstance(outcome, Result):
            print(outcome.render(args.json), flush=True)
            return 0
        return outcome
    except (AsynqError, ValueError, TypeError, ImportError, AttributeError) as exc:
        # One line, never a traceback: these are the user's to fix.
        return _fail(parser, exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `asynq task list ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a command line prints one line, never a traceback
        if os.environ.get("ASYNQ_DEBUG"):
            raise
        return _fail(parser, exc, unexpected=True)


def _fail(parser: argparse.ArgumentParser, exc: BaseException, *, unexpected: bool = False) -> int:
    message = " ".join(str(exc).split()) or type(exc).__name__
    if unexpected:
        message = f"{type(exc).__name__}: {message} (set ASYNQ_DEBUG=1 for a traceback)"
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return 1
