"""Checks of user input, so a mistake fails at the call that made it, with its name."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

Seconds = float | int | dt.timedelta
When = dt.datetime | float | int


def name(kind: str, value: Any) -> str:
    """A queue name or task ID: a non-empty string without Cluster hash-tag braces."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{kind} must be a non-empty string, got {value!r}")
    if "{" in value or "}" in value:
        raise ValueError(f"{kind} must not contain '{{' or '}}', got {value!r}")
    return value


def seconds(option: str, value: Seconds, *, minimum: float = 0.0) -> float:
    """A duration given as seconds or a timedelta, at least ``minimum``."""
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{option} must be a number of seconds or a timedelta, got {value!r}")
    if value < minimum:
        raise ValueError(f"{option} must be at least {minimum:g} seconds, got {value!r}")
    return float(value)


def timestamp(option: str, value: When) -> float:
    """A point in time given as a datetime (naive means local time) or unix seconds."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{option} must be a datetime or unix seconds, got {value!r}")
    return float(value)


def count(option: str, value: int, *, maximum: int = 2**31 - 1) -> int:
    """A non-negative int up to ``maximum`` (by default int32, the wire type of retry counts)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{option} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{option} must not be negative, got {value}")
    if value > maximum:
        raise ValueError(f"{option} must be at most {maximum}, got {value}")
    return value
