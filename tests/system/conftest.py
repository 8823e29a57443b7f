"""Fixtures that run the real ``discounts`` command in child processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import SECRET
from tests.services import free_port, wait_for_port


class Server:
    """``discounts serve`` in a child process, on a free port."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.leftovers = False
        self.log = Path(env["DISCOUNTS_DATA_DIR"]).parent / f"serve-{self.port}.log"
        argv = [sys.executable, "-m", "discounts", "serve", "--port", str(self.port), *args]
        with self.log.open("wb") as log:
            # A session of its own, so that stop() reaches uvicorn's worker processes too.
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port(self.port, timeout=60)
        except TimeoutError:
            self.stop()
            raise

    def stop(self, group_signal: signal.Signals | None = None) -> str:
        """SIGTERM ``serve`` alone, as an init system would; returns what it logged.

        With ``group_signal``, send that to serve's whole process group instead, as a terminal's
        Ctrl+C or ``timeout`` does. Whatever of its family (its process group, and the background
        worker in a session of its own, with its pool) outlives it is killed and counted in
        ``leftovers``.
        """
        family = descendants(self.proc.pid)
        if self.proc.poll() is None:
            if group_signal is None:
                self.proc.terminate()
            else:
                os.killpg(self.proc.pid, group_signal)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self._family_alive(family):
            time.sleep(0.2)
        self.leftovers = self._family_alive(family)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return self.log.read_text(errors="replace")

    def _family_alive(self, family: set[int]) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return any(alive(pid) for pid in family)
        return True


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (Linux's /proc children lists)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = {int(c) for c in (task / "children").read_text().split()}
                todo += children - found
                found |= children
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def cli_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCOUNTS_")}
    env.update(DISCOUNTS_DATA_DIR=str(data_dir), DISCOUNTS_JWT_SECRET=SECRET, **extra)
    if database_url:
        env["DISCOUNTS_DATABASE_URL"] = database_url
    return env


def run_cli(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``discounts ARGS`` in a child process, as a user would type it."""
    argv = [sys.executable, "-m", "discounts", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, input=stdin, timeout=120, check=False)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.strip()}"}


async def wait_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
