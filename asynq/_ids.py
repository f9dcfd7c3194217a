"""Task IDs: random version-4 UUIDs as strings, as Go asynq's ``uuid.NewString()``.

IDs are made 256 at a time from one ``os.urandom`` call and handed out with ``list.pop``:
a system call and the formatting per ID cost three times as much. ``list.pop`` is atomic,
so two threads never take the same ID; a forked child throws away the IDs it inherited, so
parent and child never share one.
"""

from __future__ import annotations

import os

_BATCH = 256
_VERSION_4 = bytes((b & 0x0F) | 0x40 for b in range(256))
"""Byte 6 of a version-4 UUID: the version in the high nibble (a translate table)."""
_RFC_4122 = bytes((b & 0x3F) | 0x80 for b in range(256))
"""Byte 8: the RFC 4122 variant in the two high bits."""


def _fresh_ids() -> list[str]:
    raw = bytearray(os.urandom(16 * _BATCH))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_RFC_4122)
    h = raw.hex()
    return [
        f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
        for i in range(0, 32 * _BATCH, 32)
    ]


class _Pool:
    def __init__(self) -> None:
        self._forget()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._ids: list[str] = []

    def take(self) -> str:
        try:
            return self._ids.pop()
        except IndexError:
            # Two threads may both refill; the list one of them drops only loses unused IDs.
            ids = _fresh_ids()
            self._ids = ids
            return ids.pop()


_pool = _Pool()


def uuid4() -> str:
    """``str(uuid.uuid4())``: the same random version-4 UUID, without building a UUID object."""
    return _pool.take()
