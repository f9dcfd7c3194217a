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
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError(f"{kind} must be valid Unicode text (no lone surrogates), got {value!r}") from None
    return value


MAX_SECONDS = (2**63 - 1) / 1e9
"""Longest duration: Go's ``time.Duration`` (int64 nanoseconds) tops out at about 292 years."""
MAX_TIMESTAMP = 253402300799.0
"""Latest point in time: 9999-12-31 23:59:59 UTC, the last second a ``datetime`` can show."""


def _finite_number(value: object) -> float | None:
    """``value`` as a finite float, or None if it is not a real, finite number (bools aren't)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        return None
    return number if math.isfinite(number) else None


def seconds(option: str, value: Seconds, *, minimum: float = 0.0, maximum: float = MAX_SECONDS) -> float:
    """A duration given as seconds or a timedelta, at least ``minimum``, at most ``maximum``."""
    number = _finite_number(value.total_seconds() if isinstance(value, dt.timedelta) else value)
    if number is None:
        raise TypeError(f"{option} must be a number of seconds or a timedelta, got {value!r}")
    if number < minimum:
        raise ValueError(f"{option} must be at least {minimum:g} seconds, got {value!r}")
    if number > maximum:
        raise ValueError(f"{option} must be at most {maximum:g} seconds (about 292 years), got {value!r}")
    return number


def timestamp(option: str, value: When) -> float:
    """A point in time given as a datetime (naive means local time) or unix seconds,
    between 1970-01-01 and 9999-12-31 UTC."""
    if isinstance(value, dt.datetime):
        try:
            number = value.timestamp()
        except (OverflowError, ValueError, OSError):  # a naive datetime at the ends of time
            number = -1.0
    else:
        finite = _finite_number(value)
        if finite is None:
            raise TypeError(f"{option} must be a datetime or unix seconds, got {value!r}")
        number = finite
    if not 0 <= number <= MAX_TIMESTAMP:
        raise ValueError(f"{option} must be between 1970-01-01 and 9999-12-31 UTC, got {value!r}")
    return number


def count(option: str, value: int, *, maximum: int = 2**31 - 1) -> int:
    """A non-negative int up to ``maximum`` (by default int32, the wire type of retry counts)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{option} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{option} must not be negative, got {value}")
    if value > maximum:
        raise ValueError(f"{option} must be at most {maximum}, got {value}")
    return value
