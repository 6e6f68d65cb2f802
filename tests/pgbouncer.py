"""Debian's PgBouncer in transaction mode on 127.0.0.1, standing in for RDS Proxy (``make pgbouncer`` installs it).

``PgBouncer`` writes its own configuration into a temporary folder, starts the server on a free port in front of
the given PostgreSQL server with a small server pool, and stops it on exit. Where the package is missing the test
is skipped, or fails where ``REQUIRE_PGBOUNCER`` is set (CI).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def require_pgbouncer() -> str:
    """The binary's path; skips (or fails under REQUIRE_PGBOUNCER) without one."""
    if not os.path.exists(PGBOUNCER):
        if os.environ.get("REQUIRE_PGBOUNCER"):
            pytest.fail(f"PgBouncer is required here and not installed at {PGBOUNCER} (make pgbouncer).")
        pytest.skip("PgBouncer is not installed (apt-get install pgbouncer, or make pgbouncer as root).")
    return PGBOUNCER


def require_postgres(host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        reason = f"PostgreSQL does not answer on {host}:{port}; PgBouncer has nothing to pool."
        if os.environ.get("REQUIRE_PGBOUNCER"):
            pytest.fail(reason)
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Upstream:
    host: str
    port: int
    user: str
    password: str


class PgBouncer:
    """A running PgBouncer; ``port`` is where clients connect, with any database name of the upstream server."""

    def __init__(self, upstream: Upstream, *, pool_size: int = 10, max_clients: int = 1000) -> None:
        self.upstream = upstream
        self.pool_size = pool_size
        self.max_clients = max_clients
        self.port = free_port()
        self._folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        path = self._folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> PgBouncer:
        binary = require_pgbouncer()
        up = self.upstream
        # Clients are trusted (127.0.0.1 only); PgBouncer logs in to PostgreSQL with the auth file's password.
        (self._folder / "users.txt").write_text(f'"{up.user}" "{up.password}"\n')
        (self._folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={up.host} port={up.port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self._folder / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"admin_users = {up.user}\n"
            f"default_pool_size = {self.pool_size}\n"
            f"max_client_conn = {self.max_clients}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            # One line per client login would be thousands per run; errors and warnings still show.
            "log_connections = 0\n"
            "log_disconnections = 0\n"
            f"logfile = {self._folder / 'pgbouncer.log'}\n"
        )
        command = [binary, str(self._folder / "pgbouncer.ini")]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root: it drops to an unprivileged user, who must read the folder.
            user = "postgres" if _user_exists("postgres") else "nobody"
            command[1:1] = ["-u", user]
            uid = pwd.getpwnam(user).pw_uid
            for path in (self._folder, *self._folder.iterdir()):
                os.chown(path, uid, -1)
        # Its output goes to the log file only: an unread pipe would fill up and stall the server.
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"PgBouncer exited at start: {self.log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError(f"PgBouncer did not listen on 127.0.0.1:{self.port} within 10 s: {self.log}")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
