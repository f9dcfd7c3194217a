"""Task IDs are random version-4 UUIDs, never repeated across threads or a fork."""

from __future__ import annotations

import os
import threading
import uuid

from asynq._ids import uuid4


def test_ids_are_version_4_uuids_in_their_canonical_form() -> None:
    for _ in range(600):  # more than two batches: every position in a batch
        text = uuid4()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_threads_never_get_the_same_id() -> None:
    ids: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def draw(mine: list[str]) -> None:
        start.wait()
        mine.extend(uuid4() for _ in range(2000))

    threads = [threading.Thread(target=draw, args=(mine,)) for mine in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for mine in ids for i in mine]
    assert len(set(everything)) == len(everything) == 16_000


def test_a_forked_child_does_not_reuse_the_parents_random_bytes() -> None:
    uuid4()  # the parent now holds unused random bytes the child inherits
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next IDs and leave at once
        os.write(write, " ".join(uuid4() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {uuid4() for _ in range(10)}
    assert len(child) == 10 and not child & parent
