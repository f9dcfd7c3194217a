"""The common shape of a local broker topology: start, stop, a URL, a context manager."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import TypeVar

_T = TypeVar("_T", bound="Topology")


class Topology(ABC):
    """One or more ``redis-server`` processes on loopback ports, started and stopped together.

    ``stop()`` must be idempotent and must also clean up after a ``start()`` that failed
    half-way, so that every owner (tests, the CLI, the exit hook) can simply call it.
    """

    @abstractmethod
    def start(self) -> None:
        """Start every process and return once the topology is ready to serve clients."""

    @abstractmethod
    def stop(self) -> None:
        """Stop every process and remove the topology's temporary directory."""

    @property
    @abstractmethod
    def url(self) -> str:
        """The URL a client passes to asynq to use this topology."""

    def describe(self) -> dict[str, str]:
        """Name/value pairs worth showing a person (the CLI prints them)."""
        return {"url": self.url}

    def __enter__(self: _T) -> _T:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
