"""asynq.testing used the way an application's own unit tests would use it.

Each test enqueues through the ``asynq_client`` fixture, runs the work with ``drain`` and
asserts what the handlers saw and where the tasks went: no worker threads, no sleeps, no Redis.
The fixtures come from the pytest plugin that asynq installs; this module has no conftest of
its own for them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest

from asynq import Client, Config, DeadlineExceeded, MemoryBroker, RevokeTask, ServeMux, SkipRetry, Task
from asynq.errors import NoHandlerError
from asynq.testing import FakeClock, Outcome, Processed, TooManyRuns, drain
from asynq.testing.clock import DEFAULT_START

pytest_plugins = ["pytester"]

HOUR = 3600.0


def every_ten_seconds_more(n: int, error: BaseException, task: Task) -> float:
    """A deterministic backoff: 10 s before the first retry, 20 s before the second..."""
    return 10.0 * (n + 1)


def outcomes(runs: list[Processed]) -> list[Outcome]:
    return [r.outcome for r in runs]


def task_hash(broker: MemoryBroker, queue: str, task_id: str) -> dict[bytes, bytes]:
    """The task's hash in the broker's fakeredis, in Go asynq's key layout."""
    return broker._client.hgetall(f"asynq:{{{queue}}}:t:{task_id}")


# --- the basics ----------------------------------------------------------------------------------


def test_an_enqueued_task_runs_once_with_its_payload(asynq_client, asynq_broker, asynq_clock):
    mux = ServeMux()
    seen = []

    @mux.task("email:welcome")
    def send_welcome(task: Task) -> None:
        seen.append((task.payload.get_int("user_id"), task.queue, task.retry_count))

    info = asynq_client.enqueue(Task("email:welcome", {"user_id": 42}))
    runs = drain(asynq_broker, mux, clock=asynq_clock)

    assert seen == [(42, "default", 0)]
    assert len(runs) == 1
    (run,) = runs
    assert (run.task.id, run.task.type, run.error, run.outcome) == (info.id, "email:welcome", None, Outcome.SUCCEEDED)
    assert run.started_at == DEFAULT_START
    assert asynq_clock.now() == DEFAULT_START  # nothing was scheduled: time did not move
    assert drain(asynq_broker, mux, clock=asynq_clock) == []  # and nothing is left
    assert task_hash(asynq_broker, "default", info.id) == {}  # done without retention: deleted


def test_drain_accepts_a_plain_function_as_the_handler(asynq_client, asynq_broker, asynq_clock):
    seen = []
    asynq_client.enqueue(Task("anything", b"\x00raw"))
    drain(asynq_broker, lambda task: seen.append(task.payload.raw), clock=asynq_clock)
    assert seen == [b"\x00raw"]


def test_tasks_run_in_the_order_they_were_enqueued(asynq_client, asynq_broker, asynq_clock):
    seen = []
    for n in range(5):
        asynq_client.enqueue(Task("count", n))
    drain(asynq_broker, lambda task: seen.append(task.payload.data), clock=asynq_clock)
    assert seen == [0, 1, 2, 3, 4]


def test_tasks_a_handler_enqueues_are_drained_too(asynq_client, asynq_broker, asynq_clock):
    mux = ServeMux()

    @mux.task("order:placed")
    def on_order(task: Task) -> None:
        asynq_client.enqueue(Task("email:receipt", task.payload.data))
        asynq_client.enqueue(Task("stock:reserve", task.payload.data), queue="stock")

    mux.handle_func("email:", lambda task: None)
    mux.handle_func("stock:", lambda task: None)
    asynq_client.enqueue(Task("order:placed", {"order": 7}))

    runs = drain(asynq_broker, mux, clock=asynq_clock)
    assert [r.task.type for r in runs] == ["order:placed", "email:receipt", "stock:reserve"]
    assert set(outcomes(runs)) == {Outcome.SUCCEEDED}


# --- scheduled tasks and the clock ---------------------------------------------------------------


def test_a_scheduled_task_waits_until_the_clock_reaches_it(asynq_client, asynq_broker, asynq_clock):
    seen = []
    handler = seen.append
    asynq_client.enqueue(Task("reminder"), process_in=HOUR)

    assert drain(asynq_broker, handler, clock=asynq_clock, advance=False) == []
    assert seen == []
    assert asynq_clock.now() == DEFAULT_START

    asynq_clock.advance(HOUR - 1)
    assert drain(asynq_broker, handler, clock=asynq_clock, advance=False) == []

    asynq_clock.advance(1)
    runs = drain(asynq_broker, handler, clock=asynq_clock, advance=False)
    assert [r.task.type for r in runs] == ["reminder"]
    assert runs[0].started_at == DEFAULT_START + HOUR


def test_advance_jumps_the_clock_to_each_scheduled_task(asynq_client, asynq_broker, asynq_clock):
    seen = []
    asynq_client.enqueue(Task("later"), process_in=2 * HOUR)
    asynq_client.enqueue(Task("soon"), process_in=HOUR)
    asynq_client.enqueue(Task("now"))

    runs = drain(asynq_broker, lambda t: seen.append(t.type), clock=asynq_clock)  # advance=True

    assert seen == ["now", "soon", "later"]
    assert [r.started_at - DEFAULT_START for r in runs] == [0, HOUR, 2 * HOUR]
    assert asynq_clock.now() == DEFAULT_START + 2 * HOUR  # exactly to the last task, no further


def test_schedule_at_a_datetime(asynq_client, asynq_broker, asynq_clock):
    new_year = dt.datetime(2028, 1, 1, tzinfo=dt.timezone.utc)
    asynq_client.schedule(Task("happy:new:year"), new_year)
    runs = drain(asynq_broker, lambda task: None, clock=asynq_clock)
    assert asynq_clock.datetime() == new_year
    assert runs[0].started_at == new_year.timestamp()


def test_without_a_fake_clock_drain_never_waits_for_scheduled_tasks(asynq_broker):
    client = Client(asynq_broker)  # the real clock
    client.enqueue(Task("now"))
    client.enqueue(Task("later"), process_in=HOUR)
    runs = drain(asynq_broker, lambda task: None, clock=client._clock)  # advance=True, but a real clock
    assert [r.task.type for r in runs] == ["now"]


# --- failures and retries ------------------------------------------------------------------------


def test_a_handler_failing_twice_then_succeeding_runs_three_times(asynq_client, asynq_broker, asynq_clock):
    attempts = []

    def flaky(task: Task) -> None:
        attempts.append(task.retry_count)
        if len(attempts) < 3:
            raise ConnectionError("smtp server unavailable")

    asynq_client.enqueue(Task("email:send"), max_retry=5)
    config = Config(retry_delay_func=every_ten_seconds_more)
    runs = drain(asynq_broker, flaky, clock=asynq_clock, config=config)

    assert attempts == [0, 1, 2]  # the handler sees the retry count
    assert outcomes(runs) == [Outcome.RETRIED, Outcome.RETRIED, Outcome.SUCCEEDED]
    assert [type(r.error) for r in runs] == [ConnectionError, ConnectionError, type(None)]
    # The clock jumped over each backoff: 10 s after the first failure, 20 s after the second.
    assert [r.started_at - DEFAULT_START for r in runs] == [0, 10, 30]
    assert asynq_clock.now() == DEFAULT_START + 30


def test_a_task_that_keeps_failing_is_archived_after_max_retry(asynq_client, asynq_broker, asynq_clock):
    def broken(task: Task) -> None:
        raise ValueError(f"bad input on attempt {task.retry_count + 1}")

    info = asynq_client.enqueue(Task("import:csv"), max_retry=2)
    runs = drain(asynq_broker, broken, clock=asynq_clock, config=Config(retry_delay_func=every_ten_seconds_more))

    assert outcomes(runs) == [Outcome.RETRIED, Outcome.RETRIED, Outcome.ARCHIVED]
    assert [r.task.retry_count for r in runs] == [0, 1, 2]
    # It stays in the archive, with the last error, for the user (or asynqmon) to look at.
    stored = task_hash(asynq_broker, "default", info.id)
    assert stored[b"state"] == b"archived"
    assert asynq_broker._client.zscore("asynq:{default}:archived", info.id) == DEFAULT_START + 30
    assert b"ValueError: bad input on attempt 3" in stored[b"msg"]


def test_the_default_backoff_is_used_and_is_reproducible(asynq_broker, asynq_client, asynq_clock):
    def broken(task: Task) -> None:
        raise RuntimeError("down")

    asynq_client.enqueue(Task("x"), max_retry=3)
    runs = drain(asynq_broker, broken, clock=asynq_clock)  # no config: Go asynq's backoff

    gaps = [b.started_at - a.started_at for a, b in zip(runs, runs[1:])]
    for n, gap in enumerate(gaps):
        assert n**4 + 15 <= gap <= n**4 + 15 + 29 * (n + 1)  # the formula's range
    assert outcomes(runs)[-1] is Outcome.ARCHIVED


def test_raise_errors_surfaces_the_handler_error_after_recording_it(asynq_client, asynq_broker, asynq_clock):
    def broken(task: Task) -> None:
        raise KeyError("user 42")

    info = asynq_client.enqueue(Task("profile:sync"))
    with pytest.raises(KeyError, match="user 42"):
        drain(asynq_broker, broken, clock=asynq_clock, raise_errors=True)

    # The failure was recorded before the error was re-raised: the task waits for its retry.
    stored = task_hash(asynq_broker, "default", info.id)
    assert stored[b"state"] == b"retry"
    assert asynq_clock.now() == DEFAULT_START  # drain stopped at the first error


def test_raise_errors_catches_a_missing_route(asynq_client, asynq_broker, asynq_clock):
    mux = ServeMux()
    mux.handle_func("email:welcome", lambda task: None)
    asynq_client.enqueue(Task("email:welcom"))  # a typo in the producer
    with pytest.raises(NoHandlerError):
        drain(asynq_broker, mux, clock=asynq_clock, raise_errors=True)


def test_skip_retry_archives_at_once(asynq_client, asynq_broker, asynq_clock):
    def reject(task: Task) -> None:
        raise SkipRetry("payload can never be processed")

    info = asynq_client.enqueue(Task("parse"), max_retry=25)
    runs = drain(asynq_broker, reject, clock=asynq_clock)

    assert outcomes(runs) == [Outcome.ARCHIVED]
    assert isinstance(runs[0].error, SkipRetry)
    assert task_hash(asynq_broker, "default", info.id)[b"state"] == b"archived"


def test_revoke_task_drops_it_without_retry_or_archive(asynq_client, asynq_broker, asynq_clock):
    def revoke(task: Task) -> None:
        raise RevokeTask("the user deleted their account")

    info = asynq_client.enqueue(Task("email:digest"), retention=HOUR)
    # RevokeTask is a decision, not an error: raise_errors lets it through.
    runs = drain(asynq_broker, revoke, clock=asynq_clock, raise_errors=True)

    assert outcomes(runs) == [Outcome.REVOKED]
    assert task_hash(asynq_broker, "default", info.id) == {}  # gone, even with a retention


def test_errors_that_are_not_failures_do_not_use_up_retries(asynq_client, asynq_broker, asynq_clock):
    class RateLimited(Exception):
        pass

    calls = []

    def rate_limited_twice(task: Task) -> None:
        calls.append(task.retry_count)
        if len(calls) <= 2:
            raise RateLimited()

    config = Config(is_failure=lambda exc: not isinstance(exc, RateLimited), retry_delay_func=every_ten_seconds_more)
    asynq_client.enqueue(Task("api:call"), max_retry=0)
    runs = drain(asynq_broker, rate_limited_twice, clock=asynq_clock, config=config)

    assert outcomes(runs) == [Outcome.RETRIED, Outcome.RETRIED, Outcome.SUCCEEDED]
    assert calls == [0, 0, 0]  # with max_retry=0 a counted failure would have archived it


def test_the_error_handler_of_the_config_is_called(asynq_client, asynq_broker, asynq_clock):
    reported = []
    config = Config(error_handler=lambda task, exc: reported.append((task.type, str(exc))))

    def broken(task: Task) -> None:
        raise RuntimeError("boom")

    asynq_client.enqueue(Task("x"), max_retry=1)
    drain(asynq_broker, broken, clock=asynq_clock, config=config)
    assert reported == [("x", "boom"), ("x", "boom")]


def test_a_broken_error_handler_is_not_hidden(asynq_client, asynq_broker, asynq_clock):
    def broken_reporter(task: Task, exc: BaseException) -> None:
        raise TypeError("error_handler bug")

    def broken(task: Task) -> None:
        raise RuntimeError("boom")

    info = asynq_client.enqueue(Task("x"))
    with pytest.raises(TypeError, match="error_handler bug") as raised:
        drain(asynq_broker, broken, clock=asynq_clock, config=Config(error_handler=broken_reporter))
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert task_hash(asynq_broker, "default", info.id)[b"state"] == b"retry"  # still recorded


def test_failures_are_logged_like_a_worker_does(asynq_client, asynq_broker, asynq_clock, caplog):
    def broken(task: Task) -> None:
        raise RuntimeError("boom")

    asynq_client.enqueue(Task("x"), max_retry=0)
    with caplog.at_level(logging.INFO, logger="asynq"):
        drain(asynq_broker, broken, clock=asynq_clock)
    assert "(x) failed: boom" in caplog.text


# --- timeouts and deadlines ----------------------------------------------------------------------


def test_a_handler_that_runs_past_its_timeout_fails_with_deadline_exceeded(asynq_client, asynq_broker, asynq_clock):
    flags = []

    def slow(task: Task) -> None:
        flags.append(task.cancelled)
        asynq_clock.advance(61)  # "takes" 61 s on the test's clock
        flags.append(task.cancelled)

    asynq_client.enqueue(Task("report:build"), timeout=60, max_retry=0)
    runs = drain(asynq_broker, slow, clock=asynq_clock)

    assert runs[0].task.deadline == dt.datetime.fromtimestamp(DEFAULT_START + 60, dt.timezone.utc)
    assert flags == [False, True]  # the handler could see it should stop
    assert isinstance(runs[0].error, DeadlineExceeded)
    assert outcomes(runs) == [Outcome.ARCHIVED]


def test_a_task_whose_deadline_passed_before_it_ran_is_not_handed_to_the_handler(
    asynq_client, asynq_broker, asynq_clock
):
    called = []
    asynq_client.enqueue(Task("flash:sale"), process_in=HOUR, deadline=asynq_clock.now() + 60, max_retry=0)
    runs = drain(asynq_broker, called.append, clock=asynq_clock)
    assert called == []
    assert isinstance(runs[0].error, DeadlineExceeded)
    assert outcomes(runs) == [Outcome.ARCHIVED]


# --- results -------------------------------------------------------------------------------------


def test_write_result_is_returned_and_kept_with_the_completed_task(asynq_client, asynq_broker, asynq_clock):
    def resize(task: Task) -> None:
        task.write_result(json.dumps({"width": 640}).encode())

    info = asynq_client.enqueue(Task("image:resize"), retention=HOUR)
    runs = drain(asynq_broker, resize, clock=asynq_clock)

    assert runs[0].result == b'{"width": 640}'
    stored = task_hash(asynq_broker, "default", info.id)
    assert stored[b"state"] == b"completed"
    assert stored[b"result"] == b'{"width": 640}'
    assert asynq_broker._client.zscore("asynq:{default}:completed", info.id) == DEFAULT_START + HOUR

    # Once the retention is over, the worker's janitor deletes it; drain does the same.
    asynq_clock.advance(HOUR)
    drain(asynq_broker, resize, clock=asynq_clock)
    assert task_hash(asynq_broker, "default", info.id) == {}


def test_a_run_without_write_result_has_no_result(asynq_client, asynq_broker, asynq_clock):
    asynq_client.enqueue(Task("x"))
    assert drain(asynq_broker, lambda task: None, clock=asynq_clock)[0].result is None


# --- queues --------------------------------------------------------------------------------------


def test_every_queue_is_drained_by_default(asynq_client, asynq_broker, asynq_clock):
    asynq_client.enqueue(Task("a"), queue="critical")
    asynq_client.enqueue(Task("b"), queue="default")
    asynq_client.enqueue(Task("c"), queue="low")
    runs = drain(asynq_broker, lambda task: None, clock=asynq_clock)
    assert sorted((r.task.queue, r.task.type) for r in runs) == [("critical", "a"), ("default", "b"), ("low", "c")]


def test_queues_restricts_what_is_drained(asynq_client, asynq_broker, asynq_clock):
    asynq_client.enqueue(Task("a"), queue="critical")
    asynq_client.enqueue(Task("b"), queue="default")
    asynq_client.enqueue(Task("c"), queue="low", process_in=HOUR)

    runs = drain(asynq_broker, lambda task: None, clock=asynq_clock, queues=["critical", "low"])
    assert [(r.task.queue, r.task.type) for r in runs] == [("critical", "a"), ("low", "c")]

    rest = drain(asynq_broker, lambda task: None, clock=asynq_clock)
    assert [r.task.type for r in rest] == ["b"]  # the default queue was left alone


def test_a_single_queue_name_must_be_given_as_a_list(asynq_broker, asynq_clock):
    with pytest.raises(TypeError, match=r"\['critical'\]"):
        drain(asynq_broker, lambda task: None, clock=asynq_clock, queues="critical")


# --- the run limit -------------------------------------------------------------------------------


def test_a_handler_that_reenqueues_itself_forever_hits_too_many_runs(asynq_client, asynq_broker, asynq_clock):
    def again(task: Task) -> None:
        asynq_client.enqueue(Task("poll"))

    asynq_client.enqueue(Task("poll"))
    with pytest.raises(TooManyRuns, match="'poll' ran 20 times") as raised:
        drain(asynq_broker, again, clock=asynq_clock, max_runs=20)
    assert len(raised.value.runs) == 20
    # The task that would have run next is back in its queue, not stuck as active.
    assert asynq_broker._client.llen("asynq:{default}:pending") == 1
    assert asynq_broker._client.llen("asynq:{default}:active") == 0


def test_a_periodic_self_rescheduling_task_hits_too_many_runs(asynq_client, asynq_broker, asynq_clock):
    def every_minute(task: Task) -> None:
        asynq_client.enqueue(Task("tick"), process_in=60)

    asynq_client.enqueue(Task("tick"))
    with pytest.raises(TooManyRuns):
        drain(asynq_broker, every_minute, clock=asynq_clock, max_runs=10)
    assert asynq_clock.now() == DEFAULT_START + 10 * 60

    # To run such work for a while, move the clock yourself and drain without advancing.
    asynq_clock.advance(HOUR)
    runs = drain(asynq_broker, every_minute, clock=asynq_clock, advance=False)
    assert len(runs) == 1  # only what was due; its successor is an hour's minute away


def test_too_many_runs_is_an_assertion_error_so_pytest_reports_it_as_a_failure():
    assert issubclass(TooManyRuns, AssertionError)


# --- determinism ---------------------------------------------------------------------------------


def _scenario() -> list[tuple]:
    """Several tasks, schedules and default-backoff retries, on a fresh broker and clock."""
    clock = FakeClock()
    broker = MemoryBroker()
    client = Client(broker, clock=clock)
    failures: dict[str, int] = {"a": 2, "b": 1, "c": 3}

    def handler(task: Task) -> None:
        name = task.payload.get_str("name")
        if task.retry_count < failures.get(name, 0):
            raise RuntimeError(f"{name} failed")

    for name in "abcd":
        client.enqueue(Task("job", {"name": name}), queue="q1" if name in "ab" else "q2", max_retry=2)
    client.enqueue(Task("job", {"name": "e"}), process_in=500)
    runs = drain(broker, handler, clock=clock)
    broker.close()
    return [
        (r.task.payload.get_str("name"), r.task.queue, r.task.retry_count, r.outcome, r.started_at, repr(r.error))
        for r in runs
    ]


def test_the_same_test_gives_the_same_runs_every_time():
    first = _scenario()
    assert len(first) == 10  # a: 3 runs, b: 2, c: 3 (archived), d: 1, e: 1
    assert _scenario() == first


# --- the fake clock ------------------------------------------------------------------------------


def test_fake_clock_moves_only_when_told():
    clock = FakeClock()
    assert clock.now() == clock.now() == DEFAULT_START
    assert clock.datetime() == dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.timezone.utc)
    assert clock.advance(90) == DEFAULT_START + 90
    assert clock.advance(dt.timedelta(minutes=1)) == DEFAULT_START + 150
    clock.set(DEFAULT_START + 1000)
    clock.set(dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    assert clock.datetime() == dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    assert "2030-01-01" in repr(clock)


def test_fake_clock_never_goes_backwards():
    clock = FakeClock(start=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    with pytest.raises(ValueError, match="backwards"):
        clock.set(dt.datetime(2029, 12, 31, tzinfo=dt.timezone.utc))
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(TypeError):
        clock.advance("1h")
    clock.set(clock.now())  # standing still is fine
    assert clock.datetime().year == 2030


# --- the fixtures --------------------------------------------------------------------------------


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_a_fresh_broker_and_clock(round_, asynq_client, asynq_broker, asynq_clock):
    # Run twice: the second round would see the first one's task and time if anything leaked.
    assert isinstance(asynq_clock, FakeClock) and asynq_clock.now() == DEFAULT_START
    assert isinstance(asynq_broker, MemoryBroker) and asynq_broker.queues() == []
    assert asynq_client.broker is asynq_broker
    asynq_client.enqueue(Task("leak?"), process_in=60)
    assert len(drain(asynq_broker, lambda task: None, clock=asynq_clock)) == 1
    assert asynq_clock.now() == DEFAULT_START + 60


def test_the_client_fixture_reads_the_fake_clock(asynq_client, asynq_clock):
    info = asynq_client.enqueue(Task("x"), process_in=60)
    assert info.next_process_at == asynq_clock.datetime() + dt.timedelta(seconds=60)


USER_TEST = """
from asynq import ServeMux, Task
from asynq.testing import Outcome, drain

mux = ServeMux()
sent = []

@mux.task("email:welcome")
def send_welcome(task):
    if task.retry_count == 0:
        raise ConnectionError("smtp down")
    sent.append(task.payload.get_int("user_id"))

def signup(client, user_id):
    client.enqueue(Task("email:welcome", {"user_id": user_id}), process_in=60)

def test_signup_sends_a_welcome_email(asynq_client, asynq_broker, asynq_clock):
    signup(asynq_client, 42)
    runs = drain(asynq_broker, mux, clock=asynq_clock)
    assert [r.outcome for r in runs] == [Outcome.RETRIED, Outcome.SUCCEEDED]
    assert sent == [42]
"""


def test_the_plugin_needs_no_conftest(pytester, monkeypatch):
    """A user's test file, alone in a fresh directory, gets the fixtures from the installed plugin."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(test_signup=USER_TEST)

    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)

    # The fixtures come from the "asynq" entry point: without it they are missing.
    without = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asynq")
    without.assert_outcomes(errors=1)
    without.stdout.fnmatch_lines(["*fixture 'asynq_client' not found*"])


def _complete_example() -> str:
    """The complete example of docs/testing.md, as the user would copy it."""
    guide = (Path(__file__).parents[2] / "docs" / "testing.md").read_text()
    section = guide.split("## A complete example", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_complete_example_of_the_guide_passes(pytester, monkeypatch):
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(test_signup=_complete_example())
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)
