"""Background (alias Server): the worker server, wiring its components together."""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
import uuid
from typing import Any

from asynq.brokers import BrokerSpec, open_broker
from asynq.brokers.base import ServerState
from asynq.clock import Clock, SystemClock
from asynq.config import Config
from asynq.forwarder import Forwarder
from asynq.heartbeat import HealthChecker, Heartbeater
from asynq.janitor import Janitor
from asynq.mux import as_handler
from asynq.processor import Processor
from asynq.recoverer import Recoverer
from asynq.retry import RetryPolicy
from asynq.subscriber import Subscriber
from asynq.syncer import Syncer


class Background:
    """Processes tasks from the broker with a pool of threads (the seed's ``Background``).

    ``run(handler)`` blocks until SIGTERM or SIGINT, then shuts down gracefully; SIGTSTP
    stops taking new tasks. ``start``/``stop``/``shutdown`` are for embedding.
    """

    def __init__(self, broker: BrokerSpec, config: Config | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or Config()
        # The archive limits apply to a broker opened here; a Broker object keeps its own.
        self._broker, self._owns_broker = open_broker(
            broker, archive_max_age=self.config.archive_max_age, archive_max_size=self.config.archive_max_size
        )
        self._clock = clock or SystemClock()
        self._logger = self.config.logger
        self._server_id = str(uuid.uuid4())
        self._status = "new"
        self._started_at = 0.0
        self._components: list[Any] = []
        self._processor: Processor | None = None
        self._done = threading.Event()

    @property
    def broker(self) -> Any:
        return self._broker

    def __repr__(self) -> str:
        return f"<Background {self._status} {self._broker!r}>"

    # --- embedding -------------------------------------------------------------------------

    def start(self, handler: Any) -> None:
        """Start processing with ``handler`` (a callable or an object with ``process_task``)."""
        if self._status != "new":
            raise RuntimeError(f"a Background can be started once; this one is {self._status}")
        handle = as_handler(handler)
        self._broker.ping()
        cfg = self.config
        queues = list(cfg.queues)
        policy = RetryPolicy(delay=cfg.retry_delay_func, is_failure=cfg.is_failure)
        syncer = Syncer(interval=cfg.sync_interval, clock=self._clock, logger=self._logger)
        self._processor = Processor(
            self._broker,
            handle,
            concurrency=cfg.concurrency,
            queues=cfg.queues,
            strict_priority=cfg.strict_priority,
            lease_duration=cfg.lease_duration,
            idle_poll_interval=cfg.idle_poll_interval,
            policy=policy,
            error_handler=cfg.error_handler,
            defer=syncer.defer,
            clock=self._clock,
            logger=self._logger,
            signing_keys=cfg.signing_key,
        )
        clock, logger = self._clock, self._logger
        self._components = [
            syncer,
            Heartbeater(
                self._broker, self._processor, self._server_state,
                interval=cfg.heartbeat_interval, lease_duration=cfg.lease_duration, clock=clock, logger=logger,
            ),
            Forwarder(self._broker, queues, interval=cfg.forward_interval, clock=clock, logger=logger),
            Recoverer(self._broker, queues, policy, interval=cfg.recover_interval, clock=clock, logger=logger),
            Janitor(self._broker, queues, interval=cfg.janitor_interval, clock=clock, logger=logger),
            Subscriber(self._broker, self._processor, logger=self._logger),
        ]
        if cfg.health_check_func is not None:
            self._components.append(
                HealthChecker(self._broker, cfg.health_check_func, interval=cfg.health_check_interval, logger=self._logger)
            )
        self._started_at = self._clock.now()
        self._status = "active"
        for component in self._components:
            component.start()
        self._processor.start()
        self._logger.info(
            "asynq worker started: concurrency %d, queues %s%s",
            cfg.concurrency, cfg.queues, " (strict)" if cfg.strict_priority else "",
        )

    def stop(self) -> None:
        """Stop taking new tasks; running ones finish (SIGTSTP). ``shutdown`` to exit."""
        if self._processor is not None and self._status == "active":
            self._processor.stop_fetching()
            self._status = "stopped"
            self._logger.info("asynq worker stopped taking new tasks")

    def shutdown(self) -> None:
        """Stop fetching, wait up to ``shutdown_timeout`` for running tasks, requeue the
        unfinished ones at the head of their queue, flush writes and clear server state."""
        if self._processor is None or self._status == "closed":
            return
        self._logger.info("asynq worker shutting down")
        self._processor.shutdown(self.config.shutdown_timeout)
        # The processor has settled or requeued every task; the rest is bookkeeping.
        for component in reversed(self._components):
            component.stop()
        try:
            self._broker.clear_server_state(self._server_state())
        except Exception as exc:
            self._logger.warning("could not clear server state (it expires on its own): %s", exc)
        self._status = "closed"
        if self._owns_broker:
            self._broker.close()
        self._done.set()
        self._logger.info("asynq worker shut down")

    # --- running as a program ----------------------------------------------------------------

    def run(self, handler: Any) -> None:
        """Start, then block until SIGTERM/SIGINT and shut down gracefully.

        SIGTSTP stops fetching new tasks and keeps running (not on Windows). Must be called
        from the main thread, where Python delivers signals.
        """
        received: list[int] = []
        # Signal handlers only record the signal; the wake-up socket ends the wait below.
        # (Doing the work inside a handler could deadlock on a lock the main thread holds.)
        reader, writer = socket.socketpair()
        writer.setblocking(False)
        watched = [signal.SIGTERM, signal.SIGINT] + ([signal.SIGTSTP] if hasattr(signal, "SIGTSTP") else [])
        previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in watched}
        previous_fd = signal.set_wakeup_fd(writer.fileno())
        try:
            self.start(handler)
            while True:
                select.select([reader], [], [])
                reader.recv(64)
                signals, received[:] = list(received), []
                if signal.SIGTERM in signals or signal.SIGINT in signals:
                    break
                if signals:
                    self.stop()
            self.shutdown()
        finally:
            signal.set_wakeup_fd(previous_fd)
            for sig, old in previous.items():
                signal.signal(sig, old)
            reader.close()
            writer.close()

    def _server_state(self) -> ServerState:
        return ServerState(
            host=socket.gethostname(),
            pid=os.getpid(),
            server_id=self._server_id,
            concurrency=self.config.concurrency,
            queues=dict(self.config.queues),
            strict_priority=self.config.strict_priority,
            status=self._status,
            started_at=self._started_at,
        )


Server = Background
"""Go asynq's later name for Background."""
