"""What the e-mail benchmarks share: a throw-away PostgreSQL database, a directory of users, an SMTP sink."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def smtp_sink() -> Any:
    sink = CountingSink()
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
