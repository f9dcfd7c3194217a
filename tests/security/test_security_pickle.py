"""Payload codecs: JSON by default; cloudpickle only when signed with a key the worker holds.

A pickle runs code when loaded. Every test that puts an untrusted pickle in front of a worker
uses a pickle that would create a marker directory if it were ever loaded, and checks that the
directory never appears while the task is archived and the worker goes on with other tasks.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import threading
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis

import asynq
from asynq import codecs
from asynq.brokers.base import EnqueueRequest, TaskMessage
from asynq.brokers.redis import codec, keys
from asynq.codecs import PICKLE_CONTENT_TYPE, SIGNATURE_HEADER, UntrustedPayloadError
from asynq.errors import PayloadError

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


@dataclasses.dataclass(frozen=True)
class Order:
    """A plain Python object: what pickle is for."""

    id: int
    items: tuple[str, ...]
    placed: frozenset[int]


class _Exploit:
    """Unpickling this creates ``path``: the proof that an untrusted pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (os.mkdir, (str(self.path),))


def _raw(broker: asynq.MemoryBroker) -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=broker.server)


def _stored(raw: Any, queue: str, task_id: str) -> TaskMessage:
    return codec.decode_task(raw.hget(keys.task(queue, task_id), "msg"))


def _archived(raw: Any, queue: str = "default") -> list[str]:
    return [m.decode() for m in raw.zrange(keys.archived(queue), 0, -1)]


def _put_raw(broker: asynq.RedisBroker, type_: str, payload: bytes, headers: dict[str, str], task_id: str) -> None:
    """Store a task as anyone with write access to Redis could, bypassing the Client."""
    message = TaskMessage(type=type_, payload=payload, id=task_id, queue="default", headers=headers)
    broker.enqueue(EnqueueRequest(message), now=0)


class _Recorder:
    """A handler that records what each task's payload decoded to."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}
        self.lock = threading.Lock()

    def __call__(self, task: asynq.Task) -> None:
        with self.lock:
            self.seen[task.type] = task.payload.data


# --- the producer side -----------------------------------------------------------------------


def test_json_is_the_default_codec() -> None:
    task = asynq.Task("t", {"b": 1, "a": [1, 2]})
    assert task.payload.raw == b'{"a":[1,2],"b":1}'
    assert "content-type" not in task.headers


def test_pickled_task_is_marked_and_keeps_the_object() -> None:
    order = Order(7, ("pen",), frozenset({1}))
    task = asynq.Task("order", order, codec="pickle")
    assert task.headers["content-type"] == PICKLE_CONTENT_TYPE
    assert task.payload.data is order
    assert pickle.loads(task.payload.raw) == order
    assert "cloudpickle" in repr(task.payload)


def test_unknown_codec_and_unpicklable_objects_fail_at_the_call() -> None:
    with pytest.raises(ValueError, match="codec must be 'json'.*'pickle'"):
        asynq.Task("t", 1, codec="yaml")
    with pytest.raises(PayloadError, match="cannot pickle payload"):
        asynq.Task("t", threading.Lock(), codec="pickle")
    with pytest.raises(TypeError, match="not a Payload"):
        asynq.Task("t", asynq.Payload({"a": 1}), codec="pickle")


def test_client_signs_a_pickle_with_its_key() -> None:
    broker = asynq.MemoryBroker()
    info = asynq.Client(broker, signing_key=KEY).enqueue(asynq.Task("order", [1, 2], codec="pickle"))
    stored = _stored(_raw(broker), "default", info.id)
    assert stored.headers["content-type"] == PICKLE_CONTENT_TYPE
    assert stored.headers[SIGNATURE_HEADER] == codecs.signature(KEY, "order", stored.payload)
    assert stored.headers[SIGNATURE_HEADER].startswith("hmac-sha256=")


def test_client_without_a_key_refuses_a_pickle() -> None:
    client = asynq.Client(asynq.MemoryBroker())
    with pytest.raises(ValueError, match=r"cloudpickle payload.*signing_key"):
        client.enqueue(asynq.Task("order", [1], codec="pickle"))
    with pytest.raises(ValueError, match="signing_key"):
        client.enqueue_many([asynq.Task("order", [1], codec="pickle")])


def test_json_tasks_are_never_signed_even_by_a_keyed_client() -> None:
    broker = asynq.MemoryBroker()
    info = asynq.Client(broker, signing_key=KEY).enqueue(asynq.Task("t", {"a": 1}))
    assert _stored(_raw(broker), "default", info.id).headers == {}


@pytest.mark.parametrize("key", [b"short", "", "x" * 15])
def test_short_signing_keys_are_refused_without_showing_them(key: Any) -> None:
    for make in (lambda: asynq.Client(asynq.MemoryBroker(), signing_key=key), lambda: asynq.Config(signing_key=key)):
        with pytest.raises(ValueError, match="at least 16 bytes") as caught:
            make()
        assert not key or str(key) not in str(caught.value)


def test_signing_key_types_are_checked() -> None:
    with pytest.raises(TypeError, match="signing_key must be bytes, str or a list of them, got int"):
        asynq.Config(signing_key=12345678901234567890)
    with pytest.raises(TypeError, match=r"signing_key\[1\] must be bytes or str"):
        asynq.Config(signing_key=[KEY, 5])


def test_keys_never_appear_in_reprs() -> None:
    config = asynq.Config(signing_key=[KEY, OTHER_KEY])
    client = asynq.Client(asynq.MemoryBroker(), signing_key=KEY)
    for text in (repr(config), str(config), repr(client)):
        assert KEY.decode() not in text and OTHER_KEY.decode() not in text


def test_signature_binds_the_type_and_the_payload() -> None:
    base = codecs.signature(KEY, "a", b"payload")
    assert base != codecs.signature(KEY, "b", b"payload")
    assert base != codecs.signature(KEY, "a", b"payloae")
    assert base != codecs.signature(OTHER_KEY, "a", b"payload")
    # The type's length is part of the message, so bytes cannot move between type and payload.
    assert codecs.signature(KEY, "ab", b"c") != codecs.signature(KEY, "a", b"bc")


# --- the worker side -------------------------------------------------------------------------


def test_signed_pickle_reaches_the_handler_as_the_object(start_background: Any, eventually: Any) -> None:
    broker = asynq.MemoryBroker()
    client = asynq.Client(broker, signing_key=KEY)
    order = Order(42, ("pen", "ink"), frozenset({3, 4}))
    captured = 10
    client.enqueue(asynq.Task("order", order, codec="pickle"))
    client.enqueue(asynq.Task("closure", lambda x: x + captured, codec="pickle"))  # cloudpickle: by value
    client.enqueue(asynq.Task("json", {"still": "json"}))
    recorder = _Recorder()
    start_background(broker, recorder, signing_key=KEY)
    eventually(lambda: len(recorder.seen) == 3, what="three tasks handled")
    assert recorder.seen["order"] == order
    assert recorder.seen["closure"](1) == 11
    assert recorder.seen["json"] == {"still": "json"}


def test_key_rotation_worker_accepts_any_of_its_keys(start_background: Any, eventually: Any) -> None:
    broker = asynq.MemoryBroker()
    asynq.Client(broker, signing_key=OTHER_KEY).enqueue(asynq.Task("old", "signed with the old key", codec="pickle"))
    asynq.Client(broker, signing_key=KEY).enqueue(asynq.Task("new", "signed with the new key", codec="pickle"))
    recorder = _Recorder()
    start_background(broker, recorder, signing_key=[KEY, OTHER_KEY])
    eventually(lambda: len(recorder.seen) == 2)
    assert recorder.seen == {"old": "signed with the old key", "new": "signed with the new key"}


def _untrusted_cases(marker: Path) -> dict[str, tuple[bytes, dict[str, str], str, str]]:
    """task id -> (payload, headers, type, the reason the archive must give)."""
    evil = pickle.dumps(_Exploit(marker))
    ctype = {"content-type": PICKLE_CONTENT_TYPE}
    return {
        "unsigned": (evil, ctype, "evil", "without a content-signature header"),
        "wrong-key": (evil, {**ctype, SIGNATURE_HEADER: codecs.signature(OTHER_KEY, "evil", evil)}, "evil",
                      "does not match"),
        "garbage-signature": (evil, {**ctype, SIGNATURE_HEADER: "hmac-sha256=" + "0" * 64}, "evil", "does not match"),
        "non-ascii-signature": (evil, {**ctype, SIGNATURE_HEADER: "hmac-sha256=é"}, "evil", "does not match"),
        # A signature copied from a legitimately signed task of another type.
        "replayed-type": (evil, {**ctype, SIGNATURE_HEADER: codecs.signature(KEY, "benign", evil)}, "evil",
                          "does not match"),
        # Content type spelled differently is still treated as a pickle, never as JSON.
        "case": (evil, {"content-type": " Application/X-Cloudpickle "}, "evil", "without a content-signature"),
    }


def _check_untrusted_pickles_are_archived(
    broker: asynq.RedisBroker, raw: Any, start_background: Any, eventually: Any, tmp_path: Path, signing_key: Any
) -> None:
    marker = tmp_path / "unpickled"
    cases = _untrusted_cases(marker)
    # A genuine task signed with the right key, but its bytes altered afterwards.
    signed = asynq.Client(broker, signing_key=KEY)
    info = signed.enqueue(asynq.Task("evil", "genuine", codec="pickle"), task_id="tampered")
    headers = _stored(raw, "default", info.id).headers
    tampered = pickle.dumps(_Exploit(marker))
    raw.hset(keys.task("default", "tampered"), "msg", codec.encode_task(
        TaskMessage(type="evil", payload=tampered, id="tampered", queue="default", headers=headers)))
    cases["tampered"] = (tampered, headers, "evil", "does not match")
    for task_id, (payload, hdrs, type_, _) in cases.items():
        if task_id != "tampered":
            _put_raw(broker, type_, payload, hdrs, task_id)

    handled: list[str] = []
    errors: list[BaseException] = []
    start_background(broker, lambda t: handled.append(t.type), signing_key=signing_key,
                     error_handler=lambda t, e: errors.append(e))
    eventually(lambda: len(_archived(raw)) == len(cases), what="every untrusted pickle archived")
    # The worker is alive and still processing.
    asynq.Client(broker).enqueue(asynq.Task("after", {"ok": True}))
    eventually(lambda: "after" in handled, what="a later JSON task processed")

    assert "evil" not in handled, "the handler must never see an untrusted pickle"
    assert not marker.exists(), "an untrusted pickle was unpickled"
    assert all(isinstance(e, UntrustedPayloadError) for e in errors) and len(errors) == len(cases)
    for task_id, (*_, reason) in cases.items():
        stored = _stored(raw, "default", task_id)
        expected = reason if signing_key else "this worker has no signing key"
        assert stored.error_msg.startswith("UntrustedPayloadError: "), stored.error_msg
        assert expected in stored.error_msg and "archived without being unpickled" in stored.error_msg
        assert stored.retried == 0  # archived on the first failure: never retried
        assert stored.payload == payload  # kept as bytes, for inspection


def test_untrusted_pickles_are_archived_unopened(start_background: Any, eventually: Any, tmp_path: Path) -> None:
    broker = asynq.MemoryBroker()
    _check_untrusted_pickles_are_archived(broker, _raw(broker), start_background, eventually, tmp_path, KEY)


def test_worker_without_a_key_archives_every_pickle(start_background: Any, eventually: Any, tmp_path: Path) -> None:
    broker = asynq.MemoryBroker()
    _check_untrusted_pickles_are_archived(broker, _raw(broker), start_background, eventually, tmp_path, None)


def test_untrusted_pickles_are_archived_on_real_redis(
    redis_url: str, start_background: Any, eventually: Any, tmp_path: Path
) -> None:
    broker = asynq.RedisBroker(redis.Redis.from_url(redis_url), address="test")
    with redis.Redis.from_url(redis_url) as raw:
        _check_untrusted_pickles_are_archived(broker, raw, start_background, eventually, tmp_path, KEY)
    broker.close()


def test_a_pickle_is_not_unpickled_outside_a_verifying_worker(tmp_path: Path) -> None:
    """Inspecting a pickled task (TaskInfo, a task rebuilt from storage) never loads it."""
    marker = tmp_path / "unpickled"
    evil = pickle.dumps(_Exploit(marker))
    message = TaskMessage(type="evil", payload=evil, id="x", queue="default",
                          headers={"content-type": PICKLE_CONTENT_TYPE})
    info = asynq.TaskInfo.from_message(message, asynq.TaskState.PENDING, 0)
    task = asynq.Task._from_message(message)
    for payload in (info.payload, task.payload, asynq.Payload(evil)):
        with pytest.raises(PayloadError, match="not JSON"):
            payload.data
        assert not payload.has("anything")
    with pytest.raises(UntrustedPayloadError):
        codecs.open_payload(task, ())
    assert not marker.exists()


def test_verified_pickle_that_cannot_load_is_a_retryable_payload_error() -> None:
    """A verified pickle that fails to load (code missing on this worker) raises PayloadError
    in the handler, which the retry policy retries: a deploy may bring the code."""
    broken = b"cno_such_module\nf\n."  # protocol 0: the global no_such_module.f
    message = TaskMessage(type="t", payload=broken, id="x", queue="default", headers={
        "content-type": PICKLE_CONTENT_TYPE, SIGNATURE_HEADER: codecs.signature(KEY, "t", broken)})
    task = asynq.Task._from_message(message)
    codecs.open_payload(task, (KEY,))
    with pytest.raises(PayloadError, match="cannot unpickle payload.*no_such_module") as caught:
        task.payload.data
    assert not isinstance(caught.value, asynq.SkipRetry)
