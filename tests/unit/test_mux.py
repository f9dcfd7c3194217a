"""Unit tests for asynq.mux: routing, registration forms, middleware and rejected input."""

from __future__ import annotations

import pickle
import threading

import pytest

from asynq.errors import AsynqError, NoHandlerError
from asynq.mux import HandlerFunc, ServeMux, as_handler
from asynq.task import Task


def recording_mux(*patterns: str) -> tuple[ServeMux, list[str]]:
    """A mux with one handler per pattern; each appends its pattern to the returned list."""
    mux = ServeMux()
    seen: list[str] = []
    for pattern in patterns:
        mux.handle_func(pattern, lambda task, p=pattern: seen.append(p))
    return mux, seen


# --- routing -------------------------------------------------------------------------------------

PATTERNS = ("email:", "email:welcome", "email:welcome:vip", "image", "image:resize", "a")


@pytest.mark.parametrize(
    ("task_type", "routed_to"),
    [
        ("email:welcome", "email:welcome"),  # exact
        ("email:", "email:"),  # exact, even though it is also a prefix of others
        ("email:welcome:vip", "email:welcome:vip"),  # exact beats the shorter prefixes
        ("email:welcome:vip:gold", "email:welcome:vip"),  # longest prefix
        ("email:welcome2", "email:welcome"),  # prefix is a plain string prefix, not a segment
        ("email:reminder", "email:"),
        ("image:resize:large", "image:resize"),
        ("image:crop", "image"),
        ("imagery", "image"),
        ("abc", "a"),
    ],
)
def test_routes_exact_match_first_then_longest_prefix(task_type: str, routed_to: str) -> None:
    mux, seen = recording_mux(*PATTERNS)
    mux.process_task(Task(task_type))
    assert seen == [routed_to]


def test_routing_does_not_depend_on_registration_order() -> None:
    forward, seen_forward = recording_mux(*PATTERNS)
    backward, seen_backward = recording_mux(*reversed(PATTERNS))
    for task_type in ("email:welcome:vip:x", "email:x", "image:resize:x", "image:x"):
        forward(Task(task_type))
        backward(Task(task_type))
    assert seen_forward == seen_backward == ["email:welcome:vip", "email:", "image:resize", "image"]


def test_handler_receives_the_task_and_its_return_value_is_ignored() -> None:
    mux = ServeMux()
    received: list[Task] = []
    mux.handle_func("t", lambda task: received.append(task) or "ignored")
    task = Task("t", {"user_id": 42})
    assert mux.process_task(task) is None
    assert received == [task] and received[0] is task


def test_handler_exceptions_propagate_unchanged() -> None:
    mux = ServeMux()
    boom = RuntimeError("boom")

    def fail(task: Task) -> None:
        raise boom

    mux.handle_func("t", fail)
    with pytest.raises(RuntimeError) as info:
        mux(Task("t"))
    assert info.value is boom


def test_a_mux_is_a_handler_and_can_be_nested() -> None:
    inner, seen = recording_mux("email:welcome")
    outer = ServeMux()
    outer.handle("email:", inner)
    outer.process_task(Task("email:welcome"))
    assert seen == ["email:welcome"]
    assert as_handler(inner) == inner.process_task


# --- registration forms --------------------------------------------------------------------------


def test_task_decorator_registers_and_returns_the_function_unchanged() -> None:
    mux = ServeMux()
    calls: list[int] = []

    @mux.task("email:welcome")
    def send_welcome_email(task: Task) -> None:
        calls.append(task.payload.get_int("user_id"))

    assert send_welcome_email.__name__ == "send_welcome_email"
    send_welcome_email(Task("other", {"user_id": 1}))  # still directly callable
    mux.process_task(Task("email:welcome", {"user_id": 42}))
    assert calls == [1, 42]
    assert mux.handler_for("email:welcome") is send_welcome_email  # no middleware: no wrapper


def test_task_decorator_without_arguments_is_a_clear_type_error() -> None:
    mux = ServeMux()
    with pytest.raises(TypeError, match=r'@mux\.task\("email:welcome"\)'):

        @mux.task  # type: ignore[arg-type]
        def handler(task: Task) -> None: ...


def test_handle_an_object_with_process_task() -> None:
    class EmailHandler:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def process_task(self, task: Task) -> None:
            self.seen.append(task.type)

    handler = EmailHandler()
    mux = ServeMux()
    mux.handle("email:", handler)
    mux.process_task(Task("email:welcome"))
    assert handler.seen == ["email:welcome"]


def test_handle_a_callable_object() -> None:
    class Counter:
        def __init__(self) -> None:
            self.count = 0

        def __call__(self, task: Task) -> None:
            self.count += 1

    counter = Counter()
    mux = ServeMux()
    mux.handle("t", counter)
    mux(Task("t"))
    mux(Task("t"))
    assert counter.count == 2


def test_as_handler_prefers_process_task_over_call() -> None:
    class Both:
        def __init__(self) -> None:
            self.via: list[str] = []

        def __call__(self, task: Task) -> None:
            self.via.append("__call__")

        def process_task(self, task: Task) -> None:
            self.via.append("process_task")

    both = Both()
    as_handler(both)(Task("t"))
    assert both.via == ["process_task"]


def test_as_handler_returns_plain_functions_as_they_are() -> None:
    def fn(task: Task) -> None: ...

    assert as_handler(fn) is fn


@pytest.mark.parametrize(
    ("obj", "named"),
    [
        (None, "NoneType"),
        (42, "int"),
        ("email:welcome", "str"),
        (object(), "object"),
        (type("NoProcessTask", (), {"process_task": 1})(), "NoProcessTask"),  # attribute, not a method
    ],
)
def test_as_handler_rejects_non_handlers_naming_the_type(obj: object, named: str) -> None:
    with pytest.raises(TypeError, match=rf"process_task\(task\) method, got {named}$"):
        as_handler(obj)  # type: ignore[arg-type]


def test_as_handler_rejects_a_class_and_suggests_an_instance() -> None:
    class EmailHandler:
        def process_task(self, task: Task) -> None: ...

    with pytest.raises(TypeError, match=r"got the class .*EmailHandler; did you mean .*EmailHandler\(\)\?"):
        as_handler(EmailHandler)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="class"):
        ServeMux().handle("t", EmailHandler)  # type: ignore[arg-type]


def test_handle_func_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match="got int"):
        ServeMux().handle_func("t", 42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "register",
    [
        lambda mux, pattern: mux.handle(pattern, lambda task: None),
        lambda mux, pattern: mux.handle_func(pattern, lambda task: None),
        lambda mux, pattern: mux.task(pattern)(lambda task: None),
    ],
    ids=["handle", "handle_func", "task"],
)
def test_empty_and_duplicate_patterns_are_rejected(register) -> None:
    mux = ServeMux()
    with pytest.raises(ValueError, match="non-empty"):
        register(mux, "")
    register(mux, "email:")
    with pytest.raises(ValueError, match="already registered for pattern 'email:'"):
        register(mux, "email:")
    with pytest.raises(TypeError, match="got bytes"):
        register(mux, b"email:")


def test_rejected_registration_leaves_the_first_handler_in_place() -> None:
    mux, seen = recording_mux("t")
    with pytest.raises(ValueError):
        mux.handle_func("t", lambda task: seen.append("second"))
    mux(Task("t"))
    assert seen == ["t"]


# --- unknown types -------------------------------------------------------------------------------


def test_unknown_type_raises_no_handler_error_naming_type_and_patterns() -> None:
    mux, seen = recording_mux("image:", "email:welcome")
    with pytest.raises(NoHandlerError) as info:
        mux.process_task(Task("email:reminder"))
    err = info.value
    assert isinstance(err, AsynqError) and isinstance(err, LookupError)
    assert str(err) == (
        "no handler registered for task type 'email:reminder' (registered patterns: 'email:welcome', 'image:')"
    )
    assert err.task_type == "email:reminder"
    assert err.patterns == ("email:welcome", "image:")
    assert seen == []


def test_unknown_type_on_an_empty_mux_says_none_are_registered() -> None:
    with pytest.raises(NoHandlerError, match=r"'t' \(registered patterns: none\)$"):
        ServeMux()(Task("t"))


def test_handler_for_an_unknown_type_raises_only_when_called() -> None:
    handler = ServeMux().handler_for("nope")
    with pytest.raises(NoHandlerError):
        handler(Task("nope"))


def test_a_pattern_longer_than_the_type_does_not_match() -> None:
    mux, _ = recording_mux("email:welcome")
    with pytest.raises(NoHandlerError):
        mux(Task("email:"))


def test_no_handler_error_survives_pickling() -> None:
    err = NoHandlerError("t", ["a", "b"])
    copy = pickle.loads(pickle.dumps(err))
    assert (type(copy), str(copy), copy.task_type, copy.patterns) == (NoHandlerError, str(err), "t", ("a", "b"))


# --- middleware ----------------------------------------------------------------------------------


def tracing(name: str, log: list[str]):
    """A middleware that logs entering and leaving (or failing) around the next handler."""

    def middleware(next_handler: HandlerFunc) -> HandlerFunc:
        def wrapped(task: Task) -> None:
            log.append(f"{name}>")
            try:
                next_handler(task)
            except Exception as exc:
                log.append(f"{name}!{type(exc).__name__}")
                raise
            log.append(f"<{name}")

        return wrapped

    return middleware


def test_middleware_runs_in_order_added_first_outermost() -> None:
    log: list[str] = []
    mux = ServeMux()
    mux.handle_func("t", lambda task: log.append("handler"))
    mux.use(tracing("a", log), tracing("b", log))
    mux.use(tracing("c", log))
    mux(Task("t"))
    assert log == ["a>", "b>", "c>", "handler", "<c", "<b", "<a"]


def test_middleware_added_after_routes_applies_to_them() -> None:
    log: list[str] = []
    mux = ServeMux()
    mux.handle_func("t", lambda task: log.append("handler"))
    mux(Task("t"))
    mux.use(tracing("m", log))
    mux(Task("t"))
    assert log == ["handler", "m>", "handler", "<m"]


def test_middleware_can_short_circuit() -> None:
    ran: list[str] = []

    def skip_dry_runs(next_handler: HandlerFunc) -> HandlerFunc:
        def wrapped(task: Task) -> None:
            if task.headers.get("dry-run") == "1":
                return
            next_handler(task)

        return wrapped

    mux = ServeMux()
    mux.handle_func("t", lambda task: ran.append(task.headers.get("dry-run", "0")))
    mux.use(skip_dry_runs)
    mux(Task("t", headers={"dry-run": "1"}))
    mux(Task("t"))
    assert ran == ["0"]


def test_middleware_observes_and_can_translate_exceptions() -> None:
    log: list[str] = []

    class Permanent(Exception):
        pass

    def translate(next_handler: HandlerFunc) -> HandlerFunc:
        def wrapped(task: Task) -> None:
            try:
                next_handler(task)
            except KeyError as exc:
                raise Permanent(str(exc)) from exc

        return wrapped

    def fail(task: Task) -> None:
        raise KeyError("user_id")

    mux = ServeMux()
    mux.handle_func("t", fail)
    mux.use(tracing("outer", log), translate, tracing("inner", log))
    with pytest.raises(Permanent) as info:
        mux(Task("t"))
    assert isinstance(info.value.__cause__, KeyError)
    assert log == ["outer>", "inner>", "inner!KeyError", "outer!Permanent"]


def test_middleware_wraps_unknown_types_too() -> None:
    log: list[str] = []
    mux, _ = recording_mux("email:")
    mux.use(tracing("m", log))
    with pytest.raises(NoHandlerError):
        mux(Task("image:resize"))
    assert log == ["m>", "m!NoHandlerError"]


def test_middleware_can_handle_unknown_types() -> None:
    dropped: list[str] = []

    def drop_unknown(next_handler: HandlerFunc) -> HandlerFunc:
        def wrapped(task: Task) -> None:
            try:
                next_handler(task)
            except NoHandlerError:
                dropped.append(task.type)

        return wrapped

    mux = ServeMux()
    mux.use(drop_unknown)
    mux(Task("legacy:type"))
    assert dropped == ["legacy:type"]


def test_handler_for_applies_middleware() -> None:
    log: list[str] = []
    mux, seen = recording_mux("email:")
    mux.use(tracing("m", log))
    handler = mux.handler_for("email:welcome")
    assert log == []  # building the chain runs nothing
    handler(Task("email:welcome"))
    assert (log, seen) == (["m>", "<m"], ["email:"])


def test_use_rejects_non_callables_before_adding_any() -> None:
    log: list[str] = []
    mux, _ = recording_mux("t")
    with pytest.raises(TypeError, match="middleware must be a callable .*got str"):
        mux.use(tracing("ok", log), "not a middleware")  # type: ignore[arg-type]
    mux(Task("t"))
    assert log == []


def test_a_middleware_that_forgets_to_return_the_handler_is_named() -> None:
    def broken(next_handler: HandlerFunc) -> HandlerFunc:
        def wrapped(task: Task) -> None:
            next_handler(task)

        # missing: return wrapped

    mux, _ = recording_mux("t")
    mux.use(broken)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"middleware <function .*broken.*> returned NoneType instead of a handler"):
        mux(Task("t"))


# --- concurrency ---------------------------------------------------------------------------------


def test_registration_while_processing_from_other_threads() -> None:
    mux = ServeMux()
    counts: list[int] = []
    mux.handle_func("t", lambda task: counts.append(1))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(2000):
                mux(Task("t:x"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(200):
        mux.handle_func(f"other{i}:", lambda task: None)
    for t in threads:
        t.join()
    assert errors == [] and len(counts) == 8000
