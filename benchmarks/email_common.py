"""What the e-mail benchmarks share: a throw-away PostgreSQL database, a directory of users, an SMTP sink."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import insert, text

from discounts.db import make_engine, make_sessionmaker, unit_of_work
from discounts.directory.models import Brand, User
from discounts.migrate import upgrade
from discounts.models import load_all
from discounts.settings import Settings
from tests.services import POSTGRES_ADMIN_URL, RABBITMQ_URL, free_port

load_all()
SECRET = "benchmark-secret-that-is-long-enough-for-hs256-0123456789"


def stop_cleanly_on_sigterm() -> None:
    """``kill PID`` runs the ``finally`` blocks too: workers stopped, database dropped."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class CountingSink:
    """An aiosmtpd server that only counts (a benchmark measures the sender, not the sink)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received = 0
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.received += len(envelope.rcpt_tos)
        return "250 OK"

    @property
    def thread(self) -> int | None:
        """The sink's thread (its CPU time is the sink's work), while it runs."""
        thread = self.controller._thread
        return thread.native_id if thread is not None else None


class PipeliningCountingSink(CountingSink):
    """The same sink, offering PIPELINING (RFC 2920) as production relays do.

    aiosmtpd 1.4 reads commands from a buffered stream and answers them in order, so it
    takes pipelined commands; it only does not say so in its EHLO reply.
    """

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


@contextlib.contextmanager
def smtp_sink(*, pipelining: bool = False) -> Any:
    sink = PipeliningCountingSink() if pipelining else CountingSink()
    sink.controller.start()
    try:
        yield sink
    finally:
        sink.controller.stop()


@contextlib.asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A migrated PostgreSQL database of our own, dropped afterwards."""
    name = f"discounts_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        await upgrade(url)
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def seed_directory(url: str, users: int) -> None:
    now = datetime.now(UTC)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    async with unit_of_work(sessions) as uow:
        uow.session.add(Brand(id="acme", name="Acme", email="promo@acme.example", created_at=now, updated_at=now))
    for start in range(0, users, 10_000):
        rows = [
            {"id": f"u{n:08d}", "email": f"u{n:08d}@example.com", "group": None, "unsubscribed": False}
            | {"created_at": now, "updated_at": now}
            for n in range(start, min(users, start + 10_000))
        ]
        async with unit_of_work(sessions) as uow:
            await uow.session.execute(insert(User), rows)
    await engine.dispose()


def bench_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "usage_store_url": f"sqlite:///{data_dir / 'usages.sqlite3'}",
        "broker_url": RABBITMQ_URL,
        "queue_prefix": f"discounts-bench-{uuid.uuid4().hex[:8]}",
        "jwt_secret": SECRET,
        "rate_limit": "1000000/minute",
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[arg-type]


def proc_stat(path: str) -> list[str] | None:
    """The fields of a ``/proc/.../stat`` file after the command name (field 3 first), or None if gone."""
    try:
        with open(path, "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    return data[data.rindex(")") + 2 :].split()


def thread_cpu(tid: int) -> float:
    """CPU seconds a thread of this process used so far."""
    fields = proc_stat(f"/proc/self/task/{tid}/stat")
    assert fields is not None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds the processes of a run used, by role, read from ``/proc`` while it runs.

    The machine is shared, so whole-machine figures would count other people's work: each
    role is the set of processes that are certainly ours. A process's figure is the largest
    ``utime + stime`` seen while sampling, so short-lived ones (a chunk's PostgreSQL
    backend) count up to their last sample.
    """

    def __init__(self, worker_group: int, database: str, sink_thread: int | None) -> None:
        self._group = worker_group
        self._database = database
        self._sink_thread = sink_thread
        self._tick = os.sysconf("SC_CLK_TCK")
        self._seen: dict[tuple[str, int], float] = {}
        self._start: dict[tuple[str, int], float] = {}
        self.sample()
        self._start = dict(self._seen)

    def sample(self) -> None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            fields = proc_stat(f"/proc/{entry}/stat")
            if fields is None:
                continue
            role = None
            if int(fields[2]) == self._group:
                role = "worker"
            else:
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                if cmdline.startswith(b"postgres: ") and self._database.encode() in cmdline:
                    role = "postgres"
            if role is not None:
                self._keep(role, int(entry), fields)
        if self._sink_thread is not None:
            fields = proc_stat(f"/proc/self/task/{self._sink_thread}/stat")
            if fields is not None:
                self._keep("sink", self._sink_thread, fields)

    def _keep(self, role: str, pid: int, fields: list[str]) -> None:
        used = (int(fields[11]) + int(fields[12])) / self._tick
        key = (role, pid)
        self._seen[key] = max(used, self._seen.get(key, 0.0))

    def by_role(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for key, used in self._seen.items():
            totals[key[0]] = totals.get(key[0], 0.0) + used - self._start.get(key, 0.0)
        return totals
