"""TLS (``rediss://``) and Redis ACL users, against a Redis started with TLS only and an ACL.

The server listens on a TLS port only (``port 0``) with a throwaway CA and server certificate
made at test time with the ``openssl`` command; the default user has a password and the
tasks are run as the ACL user ``alice``. Passwords must never show: not in errors, logs,
``repr``, or the command line's output.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import asynq
from asynq.brokers.redis.options import RedisClientOpt, parse_url
from asynq.errors import BrokerConnectionError
from brokers import RedisServer

USER = "alice"
PASSWORD = "Sup3r-s3cret/pa:ss@word"  # URL-special characters on purpose
DEFAULT_PASSWORD = "default-Pa55word-xyz"
WRONG = "Wr0ng-guess-Pa55"
SECRETS = (PASSWORD, urllib.parse.quote(PASSWORD, safe=""), DEFAULT_PASSWORD, WRONG)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_certificates(directory: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1 signed by it (EC keys: fast to make)."""
    if shutil.which("openssl") is None:
        pytest.fail("the TLS tests need the openssl command (e.g. `apt-get install openssl`)", pytrace=False)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=asynq test CA", cwd=directory)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=directory)
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "san.cnf", cwd=directory)
    return directory


class TLSRedisServer(RedisServer):
    """A RedisServer that speaks only TLS on its port and requires ACL authentication.

    Its readiness probe (``client``) connects with TLS as ``alice``, so nothing in brokers/
    needed to change.
    """

    def __init__(self, certs: Path) -> None:
        super().__init__(name="redis-tls")
        self.certs = certs

    def _config_lines(self) -> list[str]:
        return super()._config_lines() + [
            "port 0",
            f"tls-port {self.port}",
            f'tls-cert-file "{self.certs / "server.crt"}"',
            f'tls-key-file "{self.certs / "server.key"}"',
            f'tls-ca-cert-file "{self.certs / "ca.crt"}"',
            "tls-auth-clients no",
            f"user {USER} on >{PASSWORD} ~* &* +@all",
            f"requirepass {DEFAULT_PASSWORD}",
        ]

    def client(self, **options: Any) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, ssl=True, ssl_ca_certs=str(self.ca),
                           username=USER, password=PASSWORD, **options)

    @property
    def ca(self) -> Path:
        return self.certs / "ca.crt"

    def url_for(self, password: str = PASSWORD, *, ca: bool = True, user: str = USER) -> str:
        query = f"?tls_ca_certs={urllib.parse.quote(str(self.ca))}" if ca else ""
        return f"rediss://{user}:{urllib.parse.quote(password, safe='')}@{self.addr}/0{query}"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSRedisServer]:
    server = TLSRedisServer(make_certificates(tmp_path_factory.mktemp("certs")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tls_url(tls_server: TLSRedisServer) -> str:
    with tls_server.client() as conn:
        conn.flushall()
    return tls_server.url_for()


def _assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a password appears in {where}: {text!r}"


def test_enqueue_and_process_over_tls_as_an_acl_user(
    tls_server: TLSRedisServer, tls_url: str, start_background: Any, eventually: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = asynq.Client(tls_url)
    seen: list[Any] = []
    lock = threading.Lock()

    def handler(task: asynq.Task) -> None:
        with lock:
            seen.append(task.payload.data)

    infos = [client.enqueue(asynq.Task("tls:job", {"n": i})) for i in range(5)]
    bg = start_background(tls_url, handler)
    eventually(lambda: len(seen) == 5, what="five tasks processed over TLS")
    assert sorted(s["n"] for s in seen) == list(range(5))
    # Every connection asynq opened is a TLS one authenticated as alice (one still in its
    # handshake has sent no command yet and shows as "default").
    with tls_server.client() as conn:
        users = {c["user"] for c in conn.client_list() if c["cmd"] != "NULL"}
    assert users == {USER}
    for text, where in [
        (repr(client), "repr(Client)"), (repr(client.broker), "repr(broker)"), (repr(bg), "repr(Background)"),
        (repr(parse_url(tls_url)), "repr(RedisClientOpt)"), (str(parse_url(tls_url)), "str(RedisClientOpt)"),
        (repr(client.broker._client), "repr(redis client)"), (caplog.text, "the logs"),
        (repr([r.args for r in caplog.records]), "log record arguments"), (repr(infos), "TaskInfo"),
    ]:
        _assert_no_secret(text, where)
    client.close()


def test_url_options_reach_the_connection(tls_server: TLSRedisServer) -> None:
    opt = parse_url(tls_server.url_for())
    assert isinstance(opt, RedisClientOpt)
    assert (opt.tls, opt.tls_ca_certs, opt.tls_verify, opt.username, opt.password) == (
        True, str(tls_server.ca), True, USER, PASSWORD)
    assert parse_url(f"rediss://{tls_server.addr}?ssl_ca_certs=/x/ca.pem").tls_ca_certs == "/x/ca.pem"
    assert parse_url(f"rediss://{tls_server.addr}?tls_verify=false").tls_verify is False
    assert parse_url(f"redis://{tls_server.addr}").tls is False


def test_server_certificate_is_verified(tls_server: TLSRedisServer, tls_url: str) -> None:
    # Without our CA the server's certificate is not trusted: a clear error, quickly.
    untrusted = RedisClientOpt(addr=tls_server.addr, username=USER, password=PASSWORD, tls=True, connect_timeout=0.5)
    with pytest.raises(BrokerConnectionError, match=f"cannot reach the broker at {tls_server.addr}.*certificate"):
        asynq.Client(untrusted).enqueue(asynq.Task("t"))
    # Verification can be turned off (tests only); the CA file or the URL parameter work.
    for opt in (
        RedisClientOpt(addr=tls_server.addr, username=USER, password=PASSWORD, tls=True, tls_verify=False),
        RedisClientOpt(addr=tls_server.addr, username=USER, password=PASSWORD, tls=True,
                       tls_ca_certs=str(tls_server.ca)),
    ):
        with asynq.Client(opt) as client:
            assert client.enqueue(asynq.Task("t")).state is asynq.TaskState.PENDING


def test_plain_connection_to_a_tls_port_fails_clearly(tls_server: TLSRedisServer, tls_url: str) -> None:
    plain = RedisClientOpt(addr=tls_server.addr, username=USER, password=PASSWORD, connect_timeout=0.5)
    with pytest.raises(BrokerConnectionError, match=f"cannot reach the broker at {tls_server.addr}") as caught:
        asynq.Client(plain).enqueue(asynq.Task("t"))
    _assert_no_secret(str(caught.value), "the error")


@pytest.mark.parametrize(
    ("user", "password", "reason"),
    [(USER, WRONG, "invalid username-password pair"), ("mallory", PASSWORD, "invalid username-password pair"),
     (None, None, "authenticated"), (None, WRONG, "invalid username-password pair")],
    ids=["wrong-password", "unknown-user", "no-password", "wrong-default-password"],
)
def test_bad_credentials_give_a_clear_error_without_the_password(
    tls_server: TLSRedisServer, tls_url: str, user: str | None, password: str | None, reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    opt = RedisClientOpt(addr=tls_server.addr, username=user, password=password, tls=True,
                         tls_ca_certs=str(tls_server.ca), connect_timeout=0.3)
    with pytest.raises(BrokerConnectionError) as caught:
        asynq.Client(opt).enqueue(asynq.Task("t"))
    message = str(caught.value)
    assert message.startswith(f"cannot reach the broker at {tls_server.addr}: ") and reason in message
    with pytest.raises(BrokerConnectionError):
        asynq.Background(opt, asynq.Config(concurrency=1)).start(lambda t: None)
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for text, where in [
        (message, "the error"), (repr(caught.value), "repr(error)"), (repr(chain), "the error's causes"),
        (repr(opt), "repr(RedisClientOpt)"), (caplog.text, "the DEBUG logs"),
        (repr([r.args for r in caplog.records]), "log record arguments"),
    ]:
        _assert_no_secret(text, where)
    assert caplog.records, "the failed connection was logged at DEBUG (and the test looked at it)"


def test_cli_worker_with_a_wrong_password_prints_one_line_without_it(
    tls_server: TLSRedisServer, tls_url: str
) -> None:
    url = tls_server.url_for(WRONG)
    env = {**os.environ, "ASYNQ_REDIS_URL": ""}
    result = subprocess.run(
        [sys.executable, "-m", "asynq.cli", "worker", "builtins:print", "-u", url],
        capture_output=True, text=True, timeout=30, env=env,
    )
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"asynq: error: cannot reach the broker at {tls_server.addr}: ")
    assert "invalid username-password pair" in lines[0]
    _assert_no_secret(result.stdout + result.stderr, "the CLI output")
