"""The connection flags every command shares, as in the seed's asynqmon."""

from __future__ import annotations

import argparse
import os
import urllib.parse

import attrs

from asynq.brokers import BrokerSpec
from asynq.brokers.redis.options import parse_url

DEFAULT_URI = "redis://127.0.0.1:6379"


def add_connection_flags(parser: argparse.ArgumentParser, *, subcommand: bool = False) -> None:
    """Add the flags to ``parser``; with ``subcommand`` they are accepted after the command
    name too (``asynq worker app:mux -u URI``), as the seed's persistent flags are.

    A subcommand's copies default to SUPPRESS so they never overwrite a value given (or
    defaulted) before the command name.
    """
    group = parser.add_argument_group("broker")

    def default(value: object) -> object:
        return argparse.SUPPRESS if subcommand else value

    group.add_argument(
        "-u", "--uri",
        default=default(os.environ.get("ASYNQ_REDIS_URL", DEFAULT_URI)),
        help=f"broker URL or host:port (default: $ASYNQ_REDIS_URL or {DEFAULT_URI})",
    )
    group.add_argument("-n", "--db", type=int, default=default(None), help="Redis database number")
    group.add_argument("-p", "--password", default=default(None), help="Redis password")
    group.add_argument("--username", default=default(None), help="Redis ACL user")
    group.add_argument(
        "--timeout", type=positive_seconds, default=default(None), metavar="SECONDS",
        help="give up reaching Redis after this long (default: 5)",
    )


def positive_seconds(text: str) -> float:
    """argparse type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value


def broker_url(args: argparse.Namespace) -> str:
    """The URL the flags name; --db, --password and --username override the URL's own."""
    uri = args.uri if "://" in args.uri else f"redis://{args.uri}"
    if uri.startswith("memory://") or not (args.db is not None or args.password or args.username):
        return uri
    parts = urllib.parse.urlsplit(uri)
    user = urllib.parse.quote(args.username or parts.username or "", safe="")
    password = args.password or parts.password
    hosts = parts.netloc.rpartition("@")[2]
    credentials = f"{user}:{urllib.parse.quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    path = f"/{args.db}" if args.db is not None else parts.path
    return urllib.parse.urlunsplit((parts.scheme, credentials + hosts, path, parts.query, ""))


def broker_spec(args: argparse.Namespace) -> BrokerSpec:
    """What to open: the URL, or with ``--timeout`` its connection options with that timeout."""
    url = broker_url(args)
    timeout = getattr(args, "timeout", None)
    if timeout is None or url.startswith("memory://"):
        return url
    return attrs.evolve(parse_url(url), connect_timeout=timeout)
