"""The heartbeater: keeps leases alive and tells the broker this server is alive."""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from asynq._loop import PeriodicComponent
from asynq.brokers.base import Broker, ServerState, WorkerState
from asynq.clock import Clock
from asynq.processor import Processor


class Heartbeater(PeriodicComponent):
    """Every ``interval``: extends the leases of running tasks and writes server state.

    It runs on its own thread so busy handlers cannot starve it. A run whose lease was lost
    (it expired and another worker took the task) is flagged: its handler is asked to stop
    and its outcome is never written.
    """

    def __init__(
        self,
        broker: Broker,
        processor: Processor,
        server: Callable[[], ServerState],
        *,
        interval: float,
        lease_duration: float,
        clock: Clock,
        logger: logging.Logger,
    ) -> None:
        self._broker = broker
        self._processor = processor
        self._server = server
        self._interval = interval
        self._lease_duration = lease_duration
        self._clock = clock
        self._logger = logger
        super().__init__("heartbeat", interval, self.beat, logger)

    def beat(self) -> None:
        runs = self._processor.runs()
        now = self._clock.now()
        until = now + self._lease_duration
        lost = {(l.message.queue, l.message.id) for l in self._broker.extend_leases([r.lease for r in runs], until=until)}
        for run in runs:
            if run.settled:
                continue  # finished while we talked to the broker: its lease is gone on purpose
            if (run.lease.message.queue, run.lease.message.id) in lost:
                if not run.lease_lost:
                    self._logger.warning("task %s lost its lease; asking its handler to stop", run.lease.message.id)
                run.lease_lost = True
                run.cancelled.set()
            else:
                run.lease = attrs.evolve(run.lease, expires_at=until)
        server = self._server()
        workers = [
            WorkerState(
                host=server.host,
                pid=server.pid,
                server_id=server.server_id,
                task_id=r.lease.message.id,
                task_type=r.lease.message.type,
                task_payload=r.lease.message.payload,
                queue=r.lease.message.queue,
                started_at=r.started_at,
                deadline=r.deadline if r.deadline != float("inf") else 0,
            )
            for r in runs
        ]
        server = attrs.evolve(server, active_worker_count=len(workers))
        self._broker.write_server_state(server, workers, ttl=self._interval * 2, now=now)


class HealthChecker(PeriodicComponent):
    """Calls the user's health check with None, or the error when the broker is unreachable."""

    def __init__(self, broker: Broker, check: Callable[[BaseException | None], None], *, interval: float, logger: logging.Logger) -> None:
        self._broker = broker
        self._check = check
        super().__init__("health check", interval, self.probe, logger)

    def probe(self) -> None:
        try:
            self._broker.ping()
        except Exception as exc:
            self._check(exc)
        else:
            self._check(None)
