"""Payload codecs: JSON by default, signed cloudpickle for Python-only deployments.

A pickle runs code when it is loaded, so a worker must never unpickle bytes that anyone with
write access to Redis could have put there. The rules (docs/security.md):

- ``Task("t", obj, codec="pickle")`` pickles ``obj`` with cloudpickle and marks the task with the
  header ``content-type: application/x-cloudpickle``.
- A :class:`~asynq.Client` given ``signing_key=`` signs such a payload at enqueue: the header
  ``content-signature: hmac-sha256=<hex>`` holds HMAC-SHA256 over the task type and the payload
  bytes (:func:`signature`). A client without a key refuses to enqueue a pickled task.
- A worker given ``Config(signing_key=...)`` checks the signature before the handler runs
  (:func:`open_payload`, with :func:`hmac.compare_digest`); only then can ``task.payload.data``
  unpickle. A pickle that is unsigned, wrongly signed, or met by a worker without a key is
  archived at once with :class:`UntrustedPayloadError` saying why, and never unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Union

from asynq.errors import PayloadError
from asynq.payload import PICKLE_CONTENT_TYPE, Payload
from asynq.retry import SkipRetry
from asynq.task import Task

__all__ = [
    "CONTENT_TYPE_HEADER",
    "MIN_KEY_BYTES",
    "PICKLE_CONTENT_TYPE",
    "SIGNATURE_HEADER",
    "SigningKey",
    "UntrustedPayloadError",
    "open_payload",
    "signature",
    "signing_keys",
]

CONTENT_TYPE_HEADER = "content-type"
SIGNATURE_HEADER = "content-signature"
_SCHEME = "hmac-sha256="
_DOMAIN = b"asynq-cloudpickle-v1\x00"
MIN_KEY_BYTES = 16
"""Shortest signing key accepted: a short key can be guessed offline from one signed task."""

SigningKey = Union[bytes, str]


class UntrustedPayloadError(PayloadError, SkipRetry):
    """A pickled payload the worker may not unpickle: unsigned, wrongly signed, or no key.

    The task is archived without a retry (it is a :class:`~asynq.SkipRetry`) and its payload
    is never unpickled.
    """


def _key_bytes(key: object, what: str) -> bytes:
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f"{what} must be bytes or str, got {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        # The key itself is never shown: error messages end up in logs.
        raise ValueError(f"{what} must be at least {MIN_KEY_BYTES} bytes long, got {len(key)}; "
                         "use e.g. secrets.token_bytes(32)")
    return bytes(key)


def signing_key(key: SigningKey | None, what: str = "signing_key") -> bytes | None:
    """One key as bytes (None stays None); a str is UTF-8 encoded. Too short keys raise."""
    return None if key is None else _key_bytes(key, what)


def signing_keys(keys: SigningKey | Sequence[SigningKey] | None, what: str = "signing_key") -> tuple[bytes, ...]:
    """A worker's keys: one key, or several (any of them verifies, for key rotation)."""
    if keys is None:
        return ()
    if isinstance(keys, (bytes, bytearray, str)):
        return (_key_bytes(keys, what),)
    if not isinstance(keys, Sequence):
        raise TypeError(f"{what} must be bytes, str or a list of them, got {type(keys).__name__}")
    return tuple(_key_bytes(k, f"{what}[{i}]") for i, k in enumerate(keys))


def signature(key: bytes, task_type: str, payload: bytes) -> str:
    """The ``content-signature`` header value: HMAC-SHA256 over the type and the payload.

    The message is ``b"asynq-cloudpickle-v1\\0"``, the UTF-8 type's length as 4 big-endian
    bytes, the type, then the payload, so a signed payload cannot be replayed as another type.
    """
    type_bytes = task_type.encode()
    message = _DOMAIN + len(type_bytes).to_bytes(4, "big") + type_bytes + payload
    return _SCHEME + hmac.new(key, message, hashlib.sha256).hexdigest()


def is_pickle(headers: Mapping[str, str]) -> bool:
    return headers.get(CONTENT_TYPE_HEADER, "").strip().lower() == PICKLE_CONTENT_TYPE


def signed_headers(key: bytes | None, task_type: str, payload: Payload, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers to store for a task: a pickle this process made gets its type and signature."""
    headers = dict(headers)
    if not payload._pickled:
        return headers
    if key is None:
        raise ValueError(
            f"task {task_type!r} has a cloudpickle payload, which workers accept only when signed: "
            "give the Client the workers' signing key (Client(..., signing_key=...))"
        )
    headers[CONTENT_TYPE_HEADER] = PICKLE_CONTENT_TYPE
    headers[SIGNATURE_HEADER] = signature(key, task_type, payload.raw)
    return headers


def open_payload(task: Task, keys: Sequence[bytes]) -> None:
    """Let ``task.payload.data`` unpickle if the task is a pickle signed by one of ``keys``.

    A task that is not a pickle is left alone. A pickle that does not verify raises
    :class:`UntrustedPayloadError` and stays bytes.
    """
    if not is_pickle(task.headers):
        return
    where = f"task {task.id} ({task.type!r})"
    given = task.headers.get(SIGNATURE_HEADER)
    if not keys:
        raise UntrustedPayloadError(
            f"{where} has a cloudpickle payload but this worker has no signing key "
            "(Config(signing_key=...)); it was archived without being unpickled"
        )
    if not given:
        raise UntrustedPayloadError(
            f"{where} has a cloudpickle payload without a {SIGNATURE_HEADER} header (unsigned); "
            "it was archived without being unpickled"
        )
    raw = task.payload.raw
    if not any(hmac.compare_digest(given.encode(), signature(key, task.type, raw).encode()) for key in keys):
        raise UntrustedPayloadError(
            f"{where} has a cloudpickle payload whose {SIGNATURE_HEADER} does not match any of this "
            "worker's signing keys (forged, or signed with another key); it was archived without being unpickled"
        )
    task.payload = Payload._verified_pickle(raw)
