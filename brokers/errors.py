"""Errors raised while starting, waiting for or stopping a local Redis topology."""

from __future__ import annotations


class BrokerError(Exception):
    """Base class: something is wrong with a local topology."""


class RedisServerNotFound(BrokerError):
    """The ``redis-server`` binary is not installed, so no topology can start."""


class StartupError(BrokerError):
    """A process did not come up; the message carries the tail of its log."""


class TopologyTimeout(BrokerError, TimeoutError):
    """A topology did not reach the awaited state before its deadline."""
