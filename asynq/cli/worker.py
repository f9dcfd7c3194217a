"""``asynq worker MODULE:ATTR``: run a worker server from the command line."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Any

from asynq.brokers import BrokerSpec
from asynq.cli.connection import add_connection_flags
from asynq.config import Config
from asynq.server import Background


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "worker",
        help="process tasks with a handler or ServeMux",
        description="Process tasks until SIGTERM/SIGINT (graceful shutdown); SIGTSTP stops fetching.",
    )
    parser.add_argument("target", metavar="MODULE:ATTR", help="the handler, e.g. myapp.tasks:mux")
    parser.add_argument("-c", "--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "-q", "--queue", action="append", metavar="NAME=WEIGHT", default=[],
        help="a queue to process and its weight; repeat for several (default: default=1)",
    )
    parser.add_argument("--strict", action="store_true", help="strict priority: higher weights always first")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    add_connection_flags(parser, subcommand=True)
    return parser


def parse_queues(specs: list[str]) -> dict[str, int]:
    queues: dict[str, int] = {}
    for spec in specs or ["default=1"]:
        name, sep, weight = spec.partition("=")
        if not sep:
            weight = "1"
        if not weight.isdigit():
            raise ValueError(f"--queue {spec!r}: the weight must be a positive integer")
        queues[name] = int(weight)
    return queues


def load_target(target: str) -> Any:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{target!r} is not MODULE:ATTR (for example myapp.tasks:mux)")
    # Like `python -m`, find modules in the current directory.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def run(args: argparse.Namespace, broker: BrokerSpec) -> int:
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    handler = load_target(args.target)
    config = Config(concurrency=args.concurrency, queues=parse_queues(args.queue), strict_priority=args.strict)
    Background(broker, config).run(handler)
    return 0
