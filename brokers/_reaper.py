"""Stop every topology still running when the interpreter exits.

Tests and the CLI stop what they start, but an exception, a forgotten ``stop()`` or a
Ctrl-C in the wrong place must not leave ``redis-server`` processes and temporary
directories behind after the session.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_lock = threading.Lock()
_live: dict[int, _Stoppable] = {}


def track(obj: _Stoppable) -> None:
    """Remember ``obj`` so it is stopped at exit unless it is untracked first."""
    with _lock:
        _live[id(obj)] = obj


def untrack(obj: _Stoppable) -> None:
    """Forget ``obj``: it has been stopped."""
    with _lock:
        _live.pop(id(obj), None)


@atexit.register
def _stop_all() -> None:
    """Stop everything still tracked, most recently started first."""
    with _lock:
        leftovers = list(reversed(_live.values()))
    for obj in leftovers:
        log.warning("stopping %r at interpreter exit", obj)
        try:
            obj.stop()
        except Exception:  # keep stopping the others
            log.exception("could not stop %r at exit", obj)
