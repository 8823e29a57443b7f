"""Reaching the real services the tests need (PostgreSQL, Redis, RabbitMQ) and starting our own.

Locally a missing service skips its tests; with ``CI=true`` it fails them, so that a CI run
can never pass by silently testing less.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "DISCOUNTS_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("DISCOUNTS_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def missing(what: str, why: object) -> None:
    message = f"{what} is not reachable: {why}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


#: Headless Chromium that reaches nowhere on its own (updates, sync, metrics): the browser tests' launch flags.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """The system Chromium (``apt-get install chromium``) for Playwright; missing means skip, or fail in CI."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        missing("Chromium", f"{path} is not installed (apt-get install chromium)")
    return path


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port, 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class RedisServer:
    """A private redis-server on a free loopback port, in its own directory."""

    def __init__(self, directory: Path, *extra: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server", "not installed")
        self.binary = binary or "redis-server"
        self.directory = directory
        self.extra = list(extra)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            "redis.log",
            *self.extra,
        ]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class PostgresServer:
    """A private PostgreSQL cluster (initdb, pg_ctl) on a free loopback port, to stop and start at will.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres``
    account, in a directory of its own outside the test's (private) temporary folder.
    """

    def __init__(self) -> None:
        initdb = shutil.which("initdb")
        if initdb is None:
            missing("PostgreSQL's initdb", "not installed")
        self.bin = Path(initdb or "initdb").resolve().parent
        self.port = free_port()
        self.parent = Path(tempfile.mkdtemp(prefix="discounts-pg-"))
        self.directory = self.parent / "data"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        argv = [*self.as_postgres, str(self.bin / tool), *args]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def init(self) -> PostgresServer:
        if self.as_postgres:
            self.parent.chmod(0o755)
            shutil.chown(self.parent, "postgres")
        self._run("initdb", "-D", str(self.directory), "-U", "postgres", "--auth=trust", "--no-sync")
        return self.start()

    def start(self) -> PostgresServer:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.directory), "-o", options, "-l", str(self.parent / "log"), "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash: no checkpoint, the clients' connections cut at once."""
        if (self.directory / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.directory), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.parent, ignore_errors=True)
