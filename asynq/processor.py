"""The processor: fetches tasks when a worker thread is free and runs them."""

from __future__ import annotations

import ctypes
import logging
import queue
import random
import threading
from collections.abc import Callable, Mapping, Sequence

import attrs

from asynq import codecs
from asynq._loop import ErrorLog
from asynq.brokers.base import Broker, Lease
from asynq.clock import Clock
from asynq.errors import AsynqError, BrokerConnectionError
from asynq.retry import Outcome, RetryPolicy
from asynq.task import Task

HandlerFunc = Callable[[Task], None]


FETCH_GATHER = 0.002
"""Longest the fetcher waits for more free slots while tasks are waiting (see Processor)."""


class DeadlineExceeded(AsynqError):
    """The run passed its timeout or deadline."""


class TaskCanceled(AsynqError):
    """The run was cancelled through the inspector or ``asynq:cancel``."""


class _Interrupt(BaseException):
    """Raised inside an abandoned handler's thread to stop pure-Python code.

    A BaseException so that a handler's ``except Exception`` does not swallow it.
    """


def queue_order(queues: Mapping[str, int], strict: bool) -> Callable[[], list[str]]:
    """Return a function giving the order to try queues in for one fetch.

    Strict: by weight, highest first, every time. Otherwise a weighted random order: a queue
    with weight 6 comes first six times as often as one with weight 1, and none starves.
    """
    by_weight = sorted(queues, key=lambda q: -queues[q])
    if strict or len(queues) == 1:
        return lambda: list(by_weight)
    names = list(queues)
    weights = [queues[q] for q in names]

    def weighted() -> list[str]:
        order: list[str] = []
        remaining_names, remaining_weights = names[:], weights[:]
        while remaining_names:
            (pick,) = random.choices(range(len(remaining_names)), remaining_weights)
            order.append(remaining_names.pop(pick))
            remaining_weights.pop(pick)
        return order

    return weighted


class Run:
    """One task being processed: its lease, its thread and who gets to settle it."""

    def __init__(self, lease: Lease, task: Task, started_at: float, deadline: float, cancelled: threading.Event) -> None:
        self.lease = lease
        self.task = task
        self.started_at = started_at
        self.deadline = deadline
        self.cancelled = cancelled
        self.thread = threading.current_thread()
        self.lease_lost = False
        self._claimed = False
        self._claim_lock = threading.Lock()

    def claim(self) -> bool:
        """True for the first caller only: the worker finishing it, or the watchdog ending it."""
        with self._claim_lock:
            if self._claimed:
                return False
            self._claimed = True
            return True

    @property
    def settled(self) -> bool:
        """True once someone claimed the run: its outcome is decided and its lease no concern."""
        return self._claimed

    def interrupt(self) -> None:
        """Ask the handler to stop: set its flag, and raise inside its Python code."""
        self.cancelled.set()
        if self.thread.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.thread.ident), ctypes.py_object(_Interrupt)
            )


class Processor:
    """Runs up to ``concurrency`` tasks at once, each on a pooled thread.

    It fetches only as many tasks as there are free threads, in one broker call. When every
    queue is empty it waits for a producer's wake-up, or ``idle_poll_interval`` at most. A
    run past its deadline is failed, its handler interrupted, and its thread replaced, so a
    hung handler never shrinks the pool.
    """

    def __init__(
        self,
        broker: Broker,
        handler: HandlerFunc,
        *,
        concurrency: int,
        queues: Mapping[str, int],
        strict_priority: bool,
        lease_duration: float,
        idle_poll_interval: float,
        policy: RetryPolicy,
        error_handler: Callable[[Task, BaseException], None] | None,
        defer: Callable[[Callable[[], object], float], None],
        clock: Clock,
        logger: logging.Logger,
        signing_keys: Sequence[bytes] = (),
    ) -> None:
        self._broker = broker
        self._handler = handler
        self._signing_keys = tuple(signing_keys)
        self._concurrency = concurrency
        self._order = queue_order(queues, strict_priority)
        self._lease_duration = lease_duration
        self._idle_poll_interval = idle_poll_interval
        self._policy = policy
        self._error_handler = error_handler
        self._defer = defer
        self._clock = clock
        self._logger = logger
        self._fetch_errors = ErrorLog(logger, "fetching tasks")

        # One mutex, two conditions: the fetcher waits on _slot_freed for a free slot, the
        # watchdog and shutdown on _lock, so a finished task wakes only the fetcher.
        mutex = threading.RLock()
        self._lock = threading.Condition(mutex)
        self._slot_freed = threading.Condition(mutex)
        self._watch_until = 0.0  # when the watchdog wakes next, unless notified
        self._free = concurrency
        # Successes recorded together in one round trip (see _ack), when the broker can.
        self._acks: list[Run] = []
        self._acking = False
        self._ack_lock = threading.Lock()
        # While tasks are waiting in Redis (the last fetch got all it asked for), the fetcher
        # waits up to FETCH_GATHER seconds for three quarters of the slots to be free and takes
        # them in one call, rather than one call per slot freed: far fewer round trips per task.
        self._gather = max(1, concurrency * 3 // 4)
        self._backlog = False
        self._runs: dict[tuple[str, str], Run] = {}
        self._inbox: queue.SimpleQueue[Lease | None] = queue.SimpleQueue()
        self._wakeup = threading.Event()
        self._fetching = threading.Event()
        self._stopping = threading.Event()
        self._fetcher = threading.Thread(target=self._fetch_loop, name="asynq-fetcher", daemon=True)
        self._watchdog = threading.Thread(target=self._watch_deadlines, name="asynq-watchdog", daemon=True)

    # --- control ---------------------------------------------------------------------------

    def start(self) -> None:
        self._fetching.set()
        for _ in range(self._concurrency):
            self._start_worker()
        self._fetcher.start()
        self._watchdog.start()

    def stop_fetching(self) -> None:
        """Take no new tasks; running ones go on (SIGTSTP, and the first step of shutdown)."""
        self._fetching.clear()
        self._wakeup.set()

    def wake(self) -> None:
        """A producer announced new work."""
        self._wakeup.set()

    def cancel(self, task_id: str) -> bool:
        """End the run of ``task_id`` if this processor has it; it goes through the retry policy."""
        with self._lock:
            run = next((r for r in self._runs.values() if r.lease.message.id == task_id), None)
        if run is None:
            return False
        self._abandon(run, TaskCanceled(f"task {task_id} was cancelled"))
        return True

    def shutdown(self, timeout: float) -> None:
        """Stop fetching, give running tasks ``timeout`` seconds, requeue the rest."""
        self.stop_fetching()
        with self._lock:
            self._stopping.set()
            # The fetcher may be waiting for a free slot (every thread busy): wake it to exit.
            self._slot_freed.notify_all()
            self._lock.notify_all()
        self._fetcher.join()
        with self._lock:
            self._lock.wait_for(lambda: not self._runs, timeout)
            unfinished = [r for r in self._runs.values() if r.claim()]
            for run in unfinished:
                del self._runs[(run.lease.message.queue, run.lease.message.id)]
            self._lock.notify_all()  # the watchdog ends once no run is left; don't make it time out
        leftovers = []
        while not self._inbox.empty():
            lease = self._inbox.get()
            if lease is not None:
                leftovers.append(lease)
        for run in unfinished:
            run.interrupt()
        for lease in [r.lease for r in unfinished] + leftovers:
            self._requeue(lease)
        for _ in range(self._concurrency):
            self._inbox.put(None)
        self._watchdog.join()

    def runs(self) -> list[Run]:
        """The runs in progress, for the heartbeater."""
        with self._lock:
            return list(self._runs.values())

    # --- fetching --------------------------------------------------------------------------

    def _fetch_loop(self) -> None:
        while not self._stopping.is_set():
            with self._slot_freed:
                self._slot_freed.wait_for(lambda: self._free > 0 or self._stopping.is_set())
                if self._backlog and self._free < self._gather:
                    self._slot_freed.wait_for(
                        lambda: self._free >= self._gather or self._stopping.is_set(), FETCH_GATHER
                    )
                free = self._free
                if not self._fetching.is_set():
                    free = 0
                elif free == 0:
                    continue  # a completion write took the free slots meanwhile (see _ack_batch)
                # Reserved: a completion write that also fetches (see _ack_batch) cannot take them.
                self._free -= free
            if not free:
                self._wakeup.wait(self._idle_poll_interval)
                self._wakeup.clear()
                continue
            # Cleared before asking, so a wake-up that arrives meanwhile is not lost.
            self._wakeup.clear()
            leases = self._fetch(free)
            self._backlog = len(leases) == free
            self._hand_out(leases, free)
            if not leases:
                self._wakeup.wait(self._idle_poll_interval)

    def _hand_out(self, leases: list[Lease], reserved: int) -> None:
        """Give fetched tasks to the worker threads; free the reserved slots left unused."""
        for lease in leases:
            self._inbox.put(lease)
        if len(leases) < reserved:
            with self._lock:
                self._free += reserved - len(leases)
                self._slot_freed.notify()

    def _fetch(self, count: int) -> list[Lease]:
        now = self._clock.now()
        try:
            leases = self._broker.dequeue(self._order(), count, now=now, lease_until=now + self._lease_duration)
        except Exception as exc:
            self._fetch_errors.failed(exc)
            return []
        self._fetch_errors.succeeded()
        return leases

    # --- running ---------------------------------------------------------------------------

    def _start_worker(self) -> None:
        threading.Thread(target=self._work, name="asynq-worker", daemon=True).start()

    def _work(self) -> None:
        try:
            while (lease := self._inbox.get()) is not None:
                if not self._process(lease):
                    return  # abandoned: a fresh thread took this one's place
        except _Interrupt:
            return  # the interrupt landed after the handler returned; the run is settled

    def _process(self, lease: Lease) -> bool:
        """Run one task; False when the run was taken away from this thread."""
        msg = lease.message
        now = self._clock.now()
        limits = [now + msg.timeout if msg.timeout else 0, msg.deadline]
        deadline = min((t for t in limits if t), default=float("inf"))
        cancelled = threading.Event()
        try:
            task = Task._running(
                msg,
                deadline=0 if deadline == float("inf") else deadline,
                cancelled=cancelled,
                result_writer=lambda data: self._write_result(lease, data),
            )
        except Exception as exc:  # a blank type, a deadline out of range: no handler can get it
            self._reject(lease, exc)
            return True
        run = Run(lease, task, now, deadline, cancelled)
        with self._lock:
            self._runs[(msg.queue, msg.id)] = run
            if deadline < self._watch_until:
                self._lock.notify_all()  # the watchdog must wake earlier than it planned
        error: BaseException | None = None
        try:
            # A pickled payload becomes readable only if signed with our key; else UntrustedPayloadError.
            codecs.open_payload(task, self._signing_keys)
            self._handler(task)
        except _Interrupt:
            return False
        except BaseException as exc:  # noqa: BLE001 - a handler's error must never kill the worker
            error = exc
        if not run.claim():
            return False
        self._settle(run, error)
        return True

    def _write_result(self, lease: Lease, data: bytes) -> None:
        if not self._broker.write_result(lease, data):
            raise TaskCanceled(f"task {lease.message.id} lost its lease; the result was not stored")

    def _settle(self, run: Run, error: BaseException | None) -> None:
        msg = run.lease.message
        if error is None and not run.lease_lost:
            self._ack(run)
            return
        try:
            if error is not None:
                self._report(run.task, error)
            if run.lease_lost:
                self._logger.warning("task %s lost its lease; its outcome is dropped (another worker has it)", msg.id)
                return
            self._record(run, error)
        finally:
            self._release([run])

    def _release(self, runs: list[Run]) -> None:
        """Forget settled runs and free their slots."""
        with self._lock:
            for run in runs:
                self._runs.pop((run.lease.message.queue, run.lease.message.id), None)
            self._free += len(runs)
            self._slot_freed.notify()
            if self._stopping.is_set():
                self._lock.notify_all()  # shutdown waits for the last run

    def _ack(self, run: Run) -> None:
        """Record a success, together with the successes that finish meanwhile.

        Group commit: the thread that finds no write in flight writes every pending success in
        one round trip (each still fenced on its own lease), then looks again; the others go
        back to work at once. A slot is freed only once its task's success is written, so the
        fetcher never holds more leases than ``concurrency``, and it gets several slots at once.
        """
        with self._ack_lock:
            self._acks.append(run)
            if self._acking:
                return
            self._acking = True
        batch: list[Run] = []
        try:
            while True:
                with self._ack_lock:
                    batch, self._acks = self._acks, []
                    if not batch:
                        self._acking = False
                        return
                self._ack_batch(batch)
                batch = []
        except BaseException:
            with self._ack_lock:
                self._acking = False
            self._release(batch)
            raise

    def _ack_batch(self, batch: list[Run]) -> None:
        # While tasks are waiting in Redis, the write also leases tasks for the slots it frees
        # (and any free ones) in the same round trip. The successes are written first, so the
        # worker never holds more than ``concurrency`` leases.
        with self._lock:
            fetch = self._backlog and self._fetching.is_set() and not self._stopping.is_set()
            reserved = 0
            if fetch:
                reserved, self._free = self._free, 0
        if fetch:
            self._ack_and_fetch(batch, reserved)
            return
        try:
            held = self._broker.succeed_many([r.lease for r in batch], now=self._clock.now())
        except Exception as exc:
            self._ack_failed(batch, exc)
        else:
            self._ack_done(batch, held)
        self._release(batch)

    def _ack_and_fetch(self, batch: list[Run], reserved: int) -> None:
        count = reserved + len(batch)  # the slots of the batch are reused
        now = self._clock.now()
        leases: list[Lease] = []
        try:
            held, leases = self._broker.succeed_and_dequeue(
                [r.lease for r in batch], self._order(), count, now=now, lease_until=now + self._lease_duration
            )
        except Exception as exc:
            self._ack_failed(batch, exc)
        except BaseException:
            self._hand_out([], reserved)  # _ack frees the batch's own slots
            raise
        else:
            self._ack_done(batch, held)
        self._backlog = len(leases) == count
        late: list[Lease] = []
        with self._lock:
            for run in batch:
                self._runs.pop((run.lease.message.queue, run.lease.message.id), None)
            if self._stopping.is_set() or not self._fetching.is_set():
                late, leases = leases, []  # stopped meanwhile: start nothing new
            for lease in leases:
                self._inbox.put(lease)
            self._free += count - len(leases)
            if self._free:
                self._slot_freed.notify()  # not a wake-up for nothing: it costs a thread switch
            if self._stopping.is_set():
                self._lock.notify_all()  # shutdown waits for the last run
        for lease in late:
            self._requeue(lease)

    def _ack_failed(self, batch: list[Run], exc: Exception) -> None:
        if isinstance(exc, BrokerConnectionError):
            for run in batch:
                self._logger.warning("cannot record the outcome of task %s (%s); will retry", run.lease.message.id, exc)
                self._defer(self._recorder(run, None), run.lease.expires_at)
            return
        # e.g. a Redis error reply: never let it end this worker thread
        for run in batch:
            self._logger.error(
                "cannot record the outcome of task %s (%s); it comes back when its lease expires",
                run.lease.message.id, exc,
            )

    def _ack_done(self, batch: list[Run], held: list[bool]) -> None:
        for run, ok in zip(batch, held):
            if not ok:
                self._logger.warning(
                    "task %s lost its lease before it finished; another worker has it", run.lease.message.id
                )

    def _recorder(self, run: Run, error: BaseException | None) -> Callable[[], Outcome]:
        def record() -> Outcome:
            return self._policy.settle(self._broker, run.lease, run.task, error, now=self._clock.now())

        return record

    def _record(self, run: Run, error: BaseException | None) -> None:
        record = self._recorder(run, error)
        try:
            outcome = record()
        except BrokerConnectionError as exc:
            self._logger.warning("cannot record the outcome of task %s (%s); will retry", run.lease.message.id, exc)
            self._defer(record, run.lease.expires_at)
            return
        except Exception as exc:  # e.g. a Redis error reply: never let it end this worker thread
            self._logger.error(
                "cannot record the outcome of task %s (%s); it comes back when its lease expires",
                run.lease.message.id, exc,
            )
            return
        if outcome is Outcome.LEASE_LOST:
            self._logger.warning("task %s lost its lease before it finished; another worker has it", run.lease.message.id)

    def _report(self, task: Task, error: BaseException) -> None:
        self._logger.info("task %s (%s) failed: %s", task.id, task.type, error)
        if self._error_handler is None:
            return
        try:
            self._error_handler(task, error)
        except _Interrupt:
            raise
        except BaseException:  # noqa: BLE001 - even SystemExit from a callback must not end this thread
            self._logger.exception("error_handler raised for task %s", task.id)

    def _reject(self, lease: Lease, error: Exception) -> None:
        """Archive a task whose stored message cannot be made into a Task, and free its slot."""
        msg = lease.message
        self._logger.error("archiving task %s of queue %s: corrupt task message: %s", msg.id, msg.queue, error)
        try:
            self._broker.archive(lease, attrs.evolve(msg, error_msg=f"corrupt task message: {error}"), now=self._clock.now())
        except Exception as exc:
            self._logger.error("cannot archive task %s (%s); it comes back when its lease expires", msg.id, exc)
        finally:
            with self._lock:
                self._free += 1
                self._slot_freed.notify()
                self._lock.notify_all()

    # --- deadlines -------------------------------------------------------------------------

    def _watch_deadlines(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set() and not self._runs:
                    return
                now = self._clock.now()
                overdue = [r for r in self._runs.values() if r.deadline <= now]
                if not overdue:
                    soonest = min((r.deadline for r in self._runs.values()), default=float("inf"))
                    timeout = min(soonest - now, 1.0)
                    self._watch_until = now + timeout
                    self._lock.wait(timeout)
                    self._watch_until = 0.0  # awake: a new run needs no notification
                    continue
            for run in overdue:
                self._abandon(run, DeadlineExceeded(f"task {run.lease.message.id} passed its deadline"))

    def _abandon(self, run: Run, error: BaseException) -> None:
        """End a run from outside its thread, and give its slot to a fresh thread."""
        if not run.claim():
            return
        run.interrupt()
        self._start_worker()
        self._settle(run, error)

    def _requeue(self, lease: Lease) -> None:
        try:
            if not self._broker.requeue(lease, now=self._clock.now()):
                self._logger.warning("task %s lost its lease before it could be requeued", lease.message.id)
        except Exception as exc:
            # Its lease will expire and the recoverer of any worker will bring it back.
            self._logger.error("cannot requeue task %s (%s); it comes back when its lease expires", lease.message.id, exc)
