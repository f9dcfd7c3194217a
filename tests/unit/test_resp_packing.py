"""The direct path's RESP packer writes exactly what redis-py's packer writes, with hiredis's
C packer and with the Python one used where hiredis is missing."""

from __future__ import annotations

import pytest
from redis import exceptions as rex
from redis.connection import Connection

from asynq.brokers.redis import direct
from asynq.brokers.redis.direct import pack_command

ARGUMENTS = [
    ("PING",),
    ("SET", "key", "value"),
    ("EVALSHA", "a" * 40, 2, "asynq:{q}:pending", "asynq:{q}:t:é", b"\x00\r\n\xff", "", 0, -3, 10**20),
    ("ECHO", 1.5, 1e300, float("inf"), -0.0),
    ("ECHO", bytearray(b"ba"), memoryview(b"mv")),
    ("ECHO", "x" * 1023, "y" * 1024, b"z" * 70_000),  # either side of the cached length prefixes
]


@pytest.fixture(params=["hiredis", "python"], autouse=True)
def packer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "python":
        monkeypatch.setattr(direct, "_c_pack_command", None)
    else:
        assert direct._c_pack_command is not None, "hiredis is a dependency on CPython"


@pytest.mark.parametrize("args", ARGUMENTS, ids=range(len(ARGUMENTS)))
def test_packs_as_redis_py_does(args: tuple[object, ...]) -> None:
    assert pack_command(args) == b"".join(Connection().pack_command(*args))


@pytest.mark.parametrize("bad", [True, None, ["a"], object()])
def test_refuses_what_redis_py_refuses(bad: object) -> None:
    with pytest.raises(rex.DataError):
        Connection().pack_command("SET", "k", bad)
    with pytest.raises(rex.DataError, match="Invalid input of type"):
        pack_command(("SET", "k", bad))
