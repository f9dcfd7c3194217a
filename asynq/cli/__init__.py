"""The ``asynq`` / ``asynqmon`` command line."""

from __future__ import annotations

import argparse
import sys

from asynq.cli import worker
from asynq.cli.connection import add_connection_flags, broker_url
from asynq.errors import AsynqError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asynq", description="asynq task queue: workers and monitoring")
    add_connection_flags(parser)
    subparsers = parser.add_subparsers(dest="command", required=True)
    worker.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return worker.run(args, broker_url(args))
    except (AsynqError, ValueError, TypeError, ImportError, AttributeError) as exc:
        # One line, never a traceback: these are the user's to fix.
        print(f"asynq: error: {exc}", file=sys.stderr)
        return 1
