"""Tools for testing code that uses asynq, shipped with the library.

- :class:`FakeClock`: time that moves only when the test says so.
- :func:`drain`: process every due task synchronously on a broker (a ``MemoryBroker``
  in unit tests), jumping the fake clock over schedules and retry backoffs; it returns a
  list of :class:`Processed` runs, each with an :class:`Outcome`.
- A pytest plugin (:mod:`asynq.testing.pytest_plugin`, loaded automatically) with the
  ``asynq_clock``, ``asynq_broker`` and ``asynq_client`` fixtures.
- :mod:`asynq.testing.conformance`: the test suite every broker must pass.

See docs/testing.md.
"""

from asynq.retry import Outcome
from asynq.testing.clock import FakeClock
from asynq.testing.drain import Processed, TooManyRuns, drain

__all__ = ["FakeClock", "Outcome", "Processed", "TooManyRuns", "drain"]
