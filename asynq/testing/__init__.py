"""Tools for testing code that uses asynq, shipped with the library.

- :class:`FakeClock`: time that moves only when the test says so.
- :func:`drain`: process every due task synchronously on a broker (a ``MemoryBroker``
  in unit tests), jumping the fake clock over retry backoffs.
- A pytest plugin (:mod:`asynq.testing.pytest_plugin`) with ``asynq_clock``,
  ``asynq_broker`` and ``asynq_client`` fixtures.
- :mod:`asynq.testing.conformance`: the test suite every broker must pass.
"""

from asynq.testing.clock import FakeClock
from asynq.testing.drain import Processed, TooManyRuns, drain

__all__ = ["FakeClock", "Processed", "TooManyRuns", "drain"]
