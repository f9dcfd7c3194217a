"""The seed's producer: one task to process now, one to process 24 hours later.

Run it against the in-memory broker (nothing to install; the tasks vanish when it exits)::

    python examples/producer.py

or against a Redis server, where a worker (examples/consumer.py) will pick the tasks up::

    python examples/producer.py --uri redis://localhost:6379
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import asynq


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--uri",
        default="memory://",
        help="where the broker is: redis://host:port/db, redis-sentinel://..., memory:// (default)",
    )
    args = parser.parse_args(argv)

    t1 = asynq.Task("send_welcome_email", {"user_id": 42})
    t2 = asynq.Task("send_reminder_email", {"user_id": 42})

    try:
        with asynq.Client(args.uri) as client:
            now = dt.datetime.now(dt.timezone.utc)
            # Process the first task immediately, the second one 24 hours later.
            for task, when in ((t1, now), (t2, now + dt.timedelta(hours=24))):
                info = client.schedule(task, when)
                print(f"enqueued {info.type}: id={info.id} queue={info.queue} state={info.state.value}")
    except (asynq.BrokerConnectionError, ValueError) as exc:
        print(f"producer: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
