"""The seed's consumer: process the tasks examples/producer.py enqueues.

The seed wrote a small ``Dispatcher`` mapping task types to handlers; ``asynq.ServeMux`` is that
dispatcher, built in. Start a Redis server, then::

    python examples/producer.py --uri redis://localhost:6379
    python examples/consumer.py --uri redis://localhost:6379

It runs until SIGTERM or Ctrl-C (graceful shutdown: running tasks get ``shutdown_timeout`` to
finish, the rest go back to the head of their queue). SIGTSTP stops it taking new tasks.

The mux can also be run by the worker command line::

    asynq worker examples.consumer:mux --concurrency 10 --uri redis://localhost:6379
"""

from __future__ import annotations

import argparse
import logging
import sys

import asynq

mux = asynq.ServeMux()


@mux.task("send_welcome_email")
def send_welcome_email(task: asynq.Task) -> None:
    user_id = task.payload.get_int("user_id")  # raises PayloadError: the task is retried
    print(f"Send Welcome Email to User {user_id}", flush=True)


@mux.task("send_reminder_email")
def send_reminder_email(task: asynq.Task) -> None:
    user_id = task.payload.get_int("user_id")
    print(f"Send Reminder Email to User {user_id}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--uri",
        default="redis://localhost:6379",
        help="where the broker is: redis://host:port/db, redis-sentinel://... (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    # The library logs through `logging` and leaves the configuration to the application.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    try:
        bg = asynq.Background(args.uri, asynq.Config(concurrency=10))
        bg.run(mux)  # blocks until SIGTERM / SIGINT
    except (asynq.BrokerConnectionError, ValueError) as exc:
        print(f"consumer: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
