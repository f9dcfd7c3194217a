"""asynq in one process: enqueue a few tasks, process them, print what happened.

No server needed: by default the tasks live in an in-memory broker::

    python examples/quickstart.py

or on a Redis server (they go to a queue of their own, "quickstart")::

    python examples/quickstart.py --uri redis://localhost:6379

In a real deployment the producer (examples/producer.py) and the worker
(examples/consumer.py, or ``asynq worker``) are separate programs sharing a Redis server.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import asynq

QUEUE = "quickstart"
DEADLINE = 15.0
"""Seconds to wait for every task before giving up (it takes about 1.5 s)."""


class Tracker:
    """Remembers which tasks finished (by ID), so main() knows when to stop."""

    def __init__(self) -> None:
        self._done = threading.Condition()
        self.finished: set[str] = set()
        self.failures = 0

    def finish(self, task: asynq.Task) -> None:
        with self._done:
            self.finished.add(task.id or "")
            self._done.notify_all()

    def fail(self) -> None:
        with self._done:
            self.failures += 1

    def wait_for(self, task_ids: set[str], timeout: float) -> bool:
        with self._done:
            return self._done.wait_for(lambda: task_ids <= self.finished, timeout)

    def count(self, task_ids: set[str]) -> int:
        with self._done:
            return len(task_ids & self.finished)


tracker = Tracker()
mux = asynq.ServeMux()
_print_lock = threading.Lock()


def say(line: str) -> None:
    """print() from several worker threads at once, one whole line at a time."""
    with _print_lock:
        print(line, flush=True)


@mux.task("email:welcome")
def send_welcome_email(task: asynq.Task) -> None:
    user_id = task.payload.get_int("user_id")
    say(f"  sent welcome email to user {user_id}")
    tracker.finish(task)


@mux.task("email:reminder")
def send_reminder_email(task: asynq.Task) -> None:
    user_id = task.payload.get_int("user_id")
    say(f"  sent reminder email to user {user_id} (scheduled 1 s ahead)")
    tracker.finish(task)


@mux.task("report:generate")
def generate_report(task: asynq.Task) -> None:
    if task.retry_count == 0:
        # Raising means failure: the task is retried after retry_delay_func's delay.
        tracker.fail()
        say("  report failed on its first attempt; asynq will retry it")
        raise ConnectionError("the report service is not ready yet")
    say(f"  generated report {task.payload.get_str('name')!r} on attempt {task.retry_count + 1}")
    tracker.finish(task)


def quick_retry(retry_count: int, error: BaseException, task: asynq.Task) -> float:
    """Retry after half a second (the default backoff starts at 15 s or more)."""
    return 0.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default="memory://", help="broker URL (default: %(default)s, in-memory)")
    args = parser.parse_args(argv)

    # One in-memory broker shared by the client and the worker; a URL names a real server.
    broker: asynq.BrokerSpec = asynq.MemoryBroker() if args.uri.startswith("memory://") else args.uri
    config = asynq.Config(
        concurrency=4,
        queues={QUEUE: 1},
        retry_delay_func=quick_retry,
        forward_interval=0.1,  # move due scheduled/retry tasks to pending promptly
        shutdown_timeout=2,
    )
    started = time.monotonic()
    try:
        bg = asynq.Background(broker, config)
        with asynq.Client(broker) as client:
            infos = [client.enqueue(asynq.Task("email:welcome", {"user_id": u}), queue=QUEUE) for u in (1, 2, 3)]
            infos.append(client.enqueue(asynq.Task("report:generate", {"name": "weekly"}), queue=QUEUE))
            infos.append(client.enqueue(asynq.Task("email:reminder", {"user_id": 1}), queue=QUEUE, process_in=1))
            print(f"enqueued on {args.uri}:")
            for info in infos:
                print(f"  {info.type:<16} {info.state.value:<9} id={info.id}")
        ids = {info.id for info in infos}
        print("processing:", flush=True)
        bg.start(mux)
    except (asynq.BrokerConnectionError, ValueError) as exc:
        print(f"quickstart: {exc}", file=sys.stderr)
        return 1

    try:
        all_done = tracker.wait_for(ids, DEADLINE)
    except KeyboardInterrupt:
        all_done = False
    finally:
        bg.shutdown()

    elapsed = time.monotonic() - started
    if not all_done:
        print(f"quickstart: only {tracker.count(ids)} of {len(ids)} tasks finished in {elapsed:.1f} s", file=sys.stderr)
        return 1
    print(
        f"done: {len(ids)} tasks processed in {elapsed:.1f} s "
        f"({tracker.failures} failed attempt retried, 1 scheduled task run on time)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
