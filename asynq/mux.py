"""ServeMux: route each task to a handler by its type name, with middleware around it.

This is Go asynq's ``ServeMux`` and replaces the hand-written ``Dispatcher`` of the seed README::

    mux = ServeMux()
    mux.handle_func("email:welcome", send_welcome_email)
    mux.handle("image:", ImageProcessor())          # every type starting with "image:"

    @mux.task("email:reminder")
    def send_reminder_email(task: Task) -> None: ...

    mux.use(log_tasks)                              # middleware: wraps every handler
    bg.run(mux)                                     # a mux is itself a handler

A handler returns normally on success and raises on failure; the worker turns the exception into
a retry (or archive), so nothing here catches anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, TypeVar, cast

from asynq.errors import NoHandlerError
from asynq.task import Task

__all__ = ["Handler", "HandlerFunc", "Middleware", "ServeMux", "as_handler"]

HandlerFunc = Callable[[Task], None]
"""A handler as a plain callable: ``fn(task)``; return = success, raise = failure."""

Middleware = Callable[[HandlerFunc], HandlerFunc]
"""Takes the next handler and returns one that wraps it (logging, metrics, tracing, ...)."""

_F = TypeVar("_F", bound=HandlerFunc)


class Handler(Protocol):
    """An object that processes tasks (Go's ``asynq.Handler``); a :class:`ServeMux` is one."""

    def process_task(self, task: Task) -> None:
        """Do the work for ``task``; raise to report a failure."""


def as_handler(obj: Handler | HandlerFunc) -> HandlerFunc:
    """Return ``obj`` as a plain callable handler, or raise ``TypeError`` saying what it got.

    An object with a ``process_task`` method gives that method, even if the object is also callable
    (the method is the explicit interface). Otherwise any callable is used as it is. A class is
    rejected rather than called: calling it would only build an instance and report success.
    """
    if isinstance(obj, type):
        name = obj.__qualname__
        raise TypeError(f"a handler must be a function or an instance, got the class {name}; did you mean {name}()?")
    process_task = getattr(obj, "process_task", None)
    if callable(process_task):
        return cast(HandlerFunc, process_task)
    if callable(obj):
        return obj
    raise TypeError(
        f"a handler must be a callable taking a task or an object with a process_task(task) method, "
        f"got {type(obj).__qualname__}"
    )


def _check_pattern(pattern: object) -> None:
    if not isinstance(pattern, str):
        raise TypeError(
            f"a pattern must be a task type or type prefix (str), got {type(pattern).__qualname__}; "
            f'the decorator takes it as an argument: @mux.task("email:welcome")'
        )
    if not pattern:
        raise ValueError("a pattern must be a non-empty string")


class ServeMux:
    """Routes a task to the handler registered for its type, through the registered middleware.

    Routing: a pattern equal to the task type wins; otherwise the longest registered pattern that
    is a prefix of the type (``"email:"`` catches ``"email:welcome"``), as in Go asynq. A type that
    matches nothing raises :class:`~asynq.errors.NoHandlerError`, which the worker treats as an
    ordinary failure, so the task goes through the retry policy (a route may be added by a deploy).

    Middleware wraps every task the mux is given, including one with no route: like Go's NotFound
    handler, the handler that raises ``NoHandlerError`` is wrapped too, so logging, metrics and
    error-reporting middleware see misrouted tasks instead of missing them, and a middleware may
    even handle them. The first middleware added is the outermost.

    Registration is safe while a worker is running: lookups take a short lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, HandlerFunc] = {}
        self._longest_first: list[str] = []
        self._middlewares: list[Middleware] = []

    def handle(self, pattern: str, handler: Handler | HandlerFunc) -> None:
        """Register ``handler`` (anything :func:`as_handler` accepts) for a type or type prefix.

        Raises ``ValueError`` for an empty pattern or one already registered: a silent overwrite
        would hide a wiring mistake until tasks go to the wrong code.
        """
        _check_pattern(pattern)
        fn = as_handler(handler)
        with self._lock:
            if pattern in self._routes:
                raise ValueError(f"a handler is already registered for pattern {pattern!r}")
            self._routes[pattern] = fn
            self._longest_first = sorted(self._routes, key=len, reverse=True)

    def handle_func(self, pattern: str, fn: HandlerFunc) -> None:
        """Register a function ``fn(task)`` for a type or type prefix (see :meth:`handle`)."""
        if not callable(fn):
            raise TypeError(f"handle_func needs a callable taking a task, got {type(fn).__qualname__}")
        self.handle(pattern, fn)

    def task(self, pattern: str) -> Callable[[_F], _F]:
        """Decorator form of :meth:`handle_func`; returns the function unchanged."""
        _check_pattern(pattern)

        def register(fn: _F) -> _F:
            self.handle_func(pattern, fn)
            return fn

        return register

    def use(self, *middlewares: Middleware) -> None:
        """Append middleware; the first one ever added is the outermost around the handler."""
        for mw in middlewares:
            if not callable(mw):
                raise TypeError(f"a middleware must be a callable taking a handler, got {type(mw).__qualname__}")
        with self._lock:
            self._middlewares.extend(middlewares)

    def handler_for(self, task_type: str) -> HandlerFunc:
        """The handler a task of ``task_type`` would run, middleware applied.

        It never raises for an unknown type: the handler it returns then raises ``NoHandlerError``
        when called (inside the middleware).
        """
        with self._lock:
            fn = self._routes.get(task_type)
            if fn is None:
                fn = next((self._routes[p] for p in self._longest_first if task_type.startswith(p)), None)
            if fn is None:
                fn = _not_found(task_type, sorted(self._routes))
            middlewares = tuple(self._middlewares)
        for mw in reversed(middlewares):
            fn = mw(fn)
            if not callable(fn):
                raise TypeError(f"middleware {mw!r} returned {type(fn).__qualname__} instead of a handler")
        return fn

    def process_task(self, task: Task) -> None:
        """Run ``task`` through the middleware and the handler routed by its type."""
        self.handler_for(task.type)(task)

    __call__ = process_task


def _not_found(task_type: str, patterns: list[str]) -> HandlerFunc:
    def not_found(task: Task) -> None:
        raise NoHandlerError(task_type, patterns)

    return not_found
