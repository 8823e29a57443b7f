"""What one fan-out message costs the sender: chunks sent in this process, no Celery, no broker.

    .venv/bin/python -m benchmarks.email_chunk --users 5000 --chunk-size 500
    .venv/bin/python -m benchmarks.email_chunk --database sqlite
    .venv/bin/python -m benchmarks.email_chunk --profile chunk.html     # pyinstrument, if installed

A fresh database (a scratch PostgreSQL database, or an SQLite file) with ``--users`` users,
a code, and its chunks sent one after the other with ``send_chunk``, as a worker process
does. The SMTP sink (aiosmtpd's ``Sink`` handler) runs in a process of its own, so the
figures are the sender's: rendering, SMTP round trips, database work. It prints
milliseconds per message and messages per second, and checks every user got one delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks.email_common import bench_settings, scratch_database, seed_directory, stop_cleanly_on_sigterm
from discounts.auth import Principal, Role
from discounts.codes.schemas import CodeIn, RuleIn
from discounts.codes.service import create_code
from discounts.db import make_engine, make_sessionmaker, unit_of_work
from discounts.migrate import upgrade
from discounts.notify.chunks import ChunkOutcome, send_chunk
from discounts.notify.context import Notifier
from discounts.notify.fanout import plan_fanout
from discounts.notify.models import Delivery
from tests.services import free_port, wait_for_port


@contextlib.contextmanager
def sink_process() -> Iterator[int]:
    """aiosmtpd in a process of its own that accepts and discards every message."""
    port = free_port()
    argv = [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.asynccontextmanager
async def database(kind: str, directory: Path) -> AsyncIterator[str]:
    if kind == "postgresql":
        async with scratch_database() as url:
            yield url
        return
    url = f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}"
    await upgrade(url)
    yield url


@contextlib.contextmanager
def profiled(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="enabled", interval=0.0005)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        Path(path).write_text(profiler.output_html())
        print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)


async def measure(args: argparse.Namespace) -> tuple[int, float]:
    with tempfile.TemporaryDirectory(prefix="email-chunk-") as directory, sink_process() as port:
        async with database(args.database, Path(directory)) as url:
            await seed_directory(url, args.users)
            settings = bench_settings(url, Path(directory), smtp_url=f"smtp://127.0.0.1:{port}")
            settings = settings.model_copy(update={"fanout_chunk_size": args.chunk_size, "fanout_window_chunks": 10**6})
            engine = make_engine(url)
            sessions = make_sessionmaker(engine)
            try:
                now = datetime.now(UTC)
                data = CodeIn(id="BENCH", rule=RuleIn(brand="acme", discount=10), validity=now + timedelta(days=30))
                async with unit_of_work(sessions) as uow:
                    await create_code(uow, Principal("acme", Role.brand, "acme"), data, now)
                notifier = Notifier.build(settings, sessions)
                chunks = await plan_fanout(notifier, "BENCH", now)
                started = time.perf_counter()
                with profiled(args.profile):
                    for chunk in chunks:
                        result = await send_chunk(notifier, chunk, lambda: datetime.now(UTC))
                        assert result.outcome is ChunkOutcome.done, result
                elapsed = time.perf_counter() - started
                async with sessions() as session:
                    delivered = await session.scalar(select(func.count()).select_from(Delivery)) or 0
            finally:
                await engine.dispose()
    return int(delivered), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--profile", metavar="HTML", help="profile the sending with pyinstrument, write HTML here")
    args: Any = parser.parse_args()
    stop_cleanly_on_sigterm()
    delivered, elapsed = asyncio.run(measure(args))
    assert delivered == args.users, f"{delivered} deliveries for {args.users} users"
    print(f"| {args.database} | {args.users:,} | {args.chunk_size} | {elapsed:.2f} |", end=" ")
    print(f"{elapsed / delivered * 1000:.2f} | {delivered / elapsed:.0f} |")


if __name__ == "__main__":
    main()
