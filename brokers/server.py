"""RedisServer: one ``redis-server`` process on a free loopback port (the standalone topology)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Sequence

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import _reaper
from ._ports import LOOPBACK, free_port
from ._wait import wait_until
from .errors import BrokerError, RedisServerNotFound, StartupError, TopologyTimeout
from .topology import Topology

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 5
LOG_TAIL_LINES = 20

# Client options for health checks: a dead or stuck process must not stall a deadline loop,
# and the deadline loop is the retry (redis-py would otherwise retry with backoff itself).
PROBE_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 0.5,
    "socket_timeout": 0.5,
    "retry": Retry(NoBackoff(), 0),
}


def find_redis_server() -> str:
    """Return the path of ``redis-server`` on PATH, or raise RedisServerNotFound."""
    path = shutil.which("redis-server")
    if path is None:
        raise RedisServerNotFound(
            "redis-server is not on PATH; install Redis >= 7 (e.g. `apt-get install redis-server`)"
        )
    return path


class _Exited(Exception):
    """The process ended while we were waiting for it to answer PING."""


class _PortTaken(Exception):
    """Another process bound our port between choosing it and starting the server."""


class RedisServer(Topology):
    """A ``redis-server`` on 127.0.0.1 with its own directory, config file and log.

    By default nothing is persisted (``save ""``, ``appendonly no``). With ``appendonly=True``
    every write is fsynced (``appendfsync always``) so that ``kill()`` followed by
    ``restart()`` keeps everything that was acknowledged, which is what chaos tests assert.
    ``config`` lines are appended to the generated config file and so override it.

    The directory is a fresh temporary one removed by ``stop()``, unless ``directory`` is
    given: then its owner (e.g. a SentinelSet) removes it.
    """

    def __init__(
        self,
        *,
        appendonly: bool = False,
        config: Sequence[str] = (),
        directory: str | os.PathLike[str] | None = None,
        name: str = "redis",
    ) -> None:
        self.name = name
        self.appendonly = appendonly
        self._extra_config = tuple(config)
        self._given_dir = Path(directory) if directory is not None else None
        self._dir: Path | None = None
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def __repr__(self) -> str:
        where = f"{LOOPBACK}:{self._port}" if self._port else "not started"
        return f"<{type(self).__name__} {self.name} {where}>"

    # -- addresses -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def port(self) -> int:
        if self._port is None:
            raise BrokerError(f"{self!r} has no port: it was never started")
        return self._port

    @property
    def addr(self) -> str:
        """``"127.0.0.1:PORT"``, the form Sentinel and cluster tools use."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"redis://{self.addr}/0"

    @property
    def directory(self) -> Path:
        if self._dir is None:
            raise BrokerError(f"{self!r} has no directory: it is not started")
        return self._dir

    @property
    def config_path(self) -> Path:
        return self.directory / "redis.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def pid(self) -> int | None:
        """The process id while the process exists (None before start, after kill or stop)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client(self, **options: Any) -> redis.Redis:
        """A redis-py client connected to this server; ``options`` go to ``redis.Redis``."""
        return redis.Redis(host=self.host, port=self.port, **options)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start on a free port and wait until the server answers PING.

        The port is picked by the kernel; if another process grabs it first, retry with a
        new one. On any failure everything started so far is stopped again.
        """
        if self._dir is not None:
            raise BrokerError(f"{self!r} is already started; use restart()")
        binary = find_redis_server()
        self._dir = self._make_directory()
        _reaper.track(self)
        try:
            for _ in range(PORT_ATTEMPTS):
                self._port = free_port()
                self.config_path.write_text("\n".join(self._config_lines()) + "\n")
                try:
                    self._launch(binary)
                except _PortTaken:
                    log.info("%r: port was taken before the server bound it; retrying", self)
                    continue
                log.info("%r started", self)
                return
            raise StartupError(f"{self!r}: no free port after {PORT_ATTEMPTS} attempts")
        except BaseException:
            self.stop()
            raise

    def restart(self) -> None:
        """Stop the server if it runs and start it again on the same port and directory.

        Data in the AOF (``appendonly=True``) survives, and so does the config file, which
        ``CONFIG REWRITE`` and Sentinel may have changed since the first start.
        """
        if self._dir is None or self._port is None:
            raise BrokerError(f"{self!r} was never started; use start()")
        self._terminate()
        try:
            self._launch(find_redis_server())
        except _PortTaken:
            raise StartupError(
                f"{self!r}: port {self._port} was taken while the server was down"
            ) from None
        log.info("%r restarted", self)

    def kill(self) -> None:
        """SIGKILL the server (a crash, for chaos tests); ``restart()`` brings it back."""
        if self._proc is None:
            return
        self._proc.kill()
        self._proc.wait()
        self._proc = None
        log.info("%r killed", self)

    def stop(self) -> None:
        """Terminate the server and remove its directory if it owns it. Idempotent."""
        self._terminate()
        if self._dir is not None and self._given_dir is None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        _reaper.untrack(self)

    # -- what subclasses change ------------------------------------------------------------

    def _config_lines(self) -> list[str]:
        """The config file contents for a data node."""
        lines = self._common_config_lines() + [
            'save ""',
            # a replica's first full sync starts at once instead of after the default 5 s
            "repl-diskless-sync-delay 0",
        ]
        if self.appendonly:
            lines += ["appendonly yes", "appendfsync always"]
        else:
            lines.append("appendonly no")
        return lines + list(self._extra_config)

    def _command_args(self) -> list[str]:
        """Extra ``redis-server`` arguments after the config file."""
        return []

    def _common_config_lines(self) -> list[str]:
        """Where the process listens and keeps its files: shared by every kind of node."""
        return [
            f"bind {self.host}",
            f"port {self.port}",
            f'dir "{self.directory}"',
            "daemonize no",
        ]

    # -- internals -------------------------------------------------------------------------

    def _make_directory(self) -> Path:
        if self._given_dir is None:
            return Path(tempfile.mkdtemp(prefix=f"asynq-{self.name}-"))
        self._given_dir.mkdir(parents=True, exist_ok=True)
        return self._given_dir

    def _launch(self, binary: str) -> None:
        """Run the process and wait for PING; raise _PortTaken or StartupError if it fails."""
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log_file:
            # A session of its own: a Ctrl-C at the terminal reaches only us, and we stop
            # the server in order instead of it dying under a test.
            self._proc = subprocess.Popen(
                [binary, str(self.config_path), *self._command_args()],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,
            )
        try:
            wait_until(self._answers_ping, timeout=START_TIMEOUT, what=f"{self!r} to answer PING")
        except _Exited as exc:
            output = self._launch_log()
            self._proc = None
            if "Address already in use" in output:
                raise _PortTaken() from None
            raise StartupError(
                f"{self!r} exited with code {exc} while starting; log tail:\n{log_tail(output)}"
            ) from None
        except TopologyTimeout as exc:
            self.kill()
            raise StartupError(f"{exc}; log tail:\n{log_tail(self._launch_log())}") from None

    def _answers_ping(self) -> bool:
        assert self._proc is not None
        returncode = self._proc.poll()
        if returncode is not None:
            raise _Exited(returncode)
        with self.client(**PROBE_OPTIONS) as conn:
            return bool(conn.ping())

    def _launch_log(self) -> str:
        """What the process logged since the last launch."""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def _terminate(self) -> None:
        """SIGTERM, then SIGKILL if the process outlives STOP_TIMEOUT."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("%r ignored SIGTERM for %gs; killing it", self, STOP_TIMEOUT)
                proc.kill()
                proc.wait()
        self._proc = None
        log.info("%r stopped", self)


def log_tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
