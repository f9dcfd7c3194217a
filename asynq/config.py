"""Config: how a Background server processes tasks."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

import attrs

from asynq import _validate, codecs
from asynq.retry import RetryDelayFunc, always_failure, default_retry_delay
from asynq.task import Task

ErrorHandler = Callable[[Task, BaseException], None]
HealthCheckFunc = Callable[["BaseException | None"], None]


def _positive(_: object, attribute: attrs.Attribute, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"Config.{attribute.name} must be a positive number, got {value!r}")


def _check_concurrency(_: object, attribute: attrs.Attribute, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Config.concurrency must be an int of at least 1, got {value!r}")


def _queue_weights(queues: Mapping[str, int]) -> dict[str, int]:
    return dict(queues)


def _check_queues(_: object, attribute: attrs.Attribute, queues: Mapping[str, int]) -> None:
    if not queues:
        raise ValueError("Config.queues must name at least one queue")
    for name, weight in queues.items():
        _validate.name("queue name", name)
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            raise ValueError(f"Config.queues[{name!r}] must be an int weight of at least 1, got {weight!r}")


def _optional_callable(_: object, attribute: attrs.Attribute, value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"Config.{attribute.name} must be callable, got {type(value).__name__}")


def _callable(_: object, attribute: attrs.Attribute, value: object) -> None:
    if not callable(value):
        raise TypeError(f"Config.{attribute.name} must be callable, got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class Config:
    """Everything a Background server can be told; invalid values raise at construction."""

    concurrency: int = attrs.field(factory=lambda: os.cpu_count() or 1, validator=_check_concurrency)
    """Tasks processed at once, each on its own thread."""
    queues: Mapping[str, int] = attrs.field(factory=lambda: {"default": 1}, converter=_queue_weights, validator=_check_queues)
    """Queue name to weight: with weights 6, 3, 1 a queue is tried first 60%, 30%, 10% of the time."""
    strict_priority: bool = False
    """Always empty higher-weight queues first (lower ones may starve)."""
    retry_delay_func: RetryDelayFunc = attrs.field(default=default_retry_delay, validator=_callable)
    is_failure: Callable[[BaseException], bool] = attrs.field(default=always_failure, validator=_callable)
    """Errors it returns False for are retried without counting as failures or retries."""
    error_handler: ErrorHandler | None = attrs.field(default=None, validator=_optional_callable)
    """Called with the task and the error after every failed run."""
    health_check_func: HealthCheckFunc | None = attrs.field(default=None, validator=_optional_callable)
    """Called every ``health_check_interval`` with None, or the error if the broker is unreachable."""
    shutdown_timeout: float = attrs.field(default=8.0, validator=_positive)
    """Seconds running tasks get to finish on shutdown before they are requeued."""
    lease_duration: float = attrs.field(default=30.0, validator=_positive)
    heartbeat_interval: float = attrs.field(default=5.0, validator=_positive)
    """Leases are extended and server state written this often."""
    forward_interval: float = attrs.field(default=1.0, validator=_positive)
    """How often due scheduled and retry tasks are moved to pending."""
    recover_interval: float = attrs.field(default=2.0, validator=_positive)
    """How often tasks with expired leases are looked for."""
    janitor_interval: float = attrs.field(default=8.0, validator=_positive)
    sync_interval: float = attrs.field(default=1.0, validator=_positive)
    """How often completion writes that failed (broker down) are tried again."""
    idle_poll_interval: float = attrs.field(default=1.0, validator=_positive)
    """Longest wait for a wake-up when every queue is empty (covers producers that send none)."""
    health_check_interval: float = attrs.field(default=15.0, validator=_positive)
    archive_max_age: float = attrs.field(default=90 * 24 * 3600.0, validator=_positive)
    archive_max_size: int = attrs.field(default=10_000, validator=_positive)
    logger: logging.Logger = attrs.field(factory=lambda: logging.getLogger("asynq"))
    signing_key: tuple[bytes, ...] = attrs.field(default=(), converter=codecs.signing_keys, repr=False)
    """Key (bytes or str, 16 bytes at least), or list of keys, that cloudpickle payloads must be
    signed with; only those are unpickled. Without one, every pickled task is archived unopened."""

    def __attrs_post_init__(self) -> None:
        if self.heartbeat_interval >= self.lease_duration:
            raise ValueError(
                f"Config.heartbeat_interval ({self.heartbeat_interval}) must be shorter than "
                f"lease_duration ({self.lease_duration}), or leases expire between extensions"
            )
