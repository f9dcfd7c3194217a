"""Task IDs: random version-4 UUIDs as strings, as Go asynq's ``uuid.NewString()``.

The random bytes come from ``os.urandom`` 4 KiB at a time: one system call per ID cost as much
as the rest of making it. A lock keeps two threads from ever taking the same bytes, and a
forked child throws away what it inherited, so parent and child never share an ID.
"""

from __future__ import annotations

import os
import threading

_CHUNK = 16 * 256


class _RandomBytes:
    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()  # a lock held by another thread at the fork stays held
        self._buffer = b""
        self._offset = 0

    def take16(self) -> bytearray:
        with self._lock:
            if self._offset == len(self._buffer):
                self._buffer, self._offset = os.urandom(_CHUNK), 0
            start = self._offset
            self._offset = start + 16
            return bytearray(self._buffer[start:start + 16])


_random = _RandomBytes()


def uuid4() -> str:
    """``str(uuid.uuid4())``: the same random version-4 UUID, without building a UUID object."""
    b = _random.take16()
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
