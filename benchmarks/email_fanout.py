"""E-mails per second of a fan-out: PostgreSQL + RabbitMQ + Celery workers + a local SMTP sink (aiosmtpd).

    .venv/bin/python -m benchmarks.email_fanout --users 100000 --concurrency 1 2

For each worker concurrency: a fresh database with ``--users`` users, one ``discounts worker``
process with that many pool processes, one code created through the API; the clock runs
from the 201 to the fan-out's ``done``. Everything it starts it stops (and the database is dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from benchmarks.email_common import bench_settings, scratch_database, seed_directory, smtp_sink, stop_cleanly_on_sigterm
from discounts.api.app import create_app
from discounts.db import make_engine, make_sessionmaker
from discounts.notify.models import Fanout
from tests.conftest import Auth
from tests.notify.worker import WorkerProcess, delete_queues


async def one_run(users: int, concurrency: int, chunk_size: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="email-bench-") as directory, smtp_sink() as sink:
        async with scratch_database() as url:
            await seed_directory(url, users)
            settings = bench_settings(url, Path(directory), smtp_url=f"smtp://127.0.0.1:{sink.port}")
            settings = settings.model_copy(update={"fanout_chunk_size": chunk_size})
            worker = WorkerProcess(settings, Path(directory) / "worker.log", beat=True, concurrency=concurrency)
            engine = make_engine(url)
            app = create_app(settings)
            try:
                worker.start()
                await asyncio.sleep(3)  # let the worker connect before the clock starts
                async with app.router.lifespan_context(app):
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                        body = {
                            "id": "BENCH",
                            "rule": {"brand": "acme", "discount": 10},
                            "validity": "2099-01-01T00:00:00Z",
                        }
                        created = await client.post("/api/v1/discountcode/", json=body, headers=Auth(settings).brand())
                        assert created.status_code == 201, created.text
                        started = time.perf_counter()
                        sessions = make_sessionmaker(engine)
                        while True:
                            async with sessions() as session:
                                status = await session.scalar(select(Fanout.status).where(Fanout.code_id == "BENCH"))
                            if status == "done":
                                break
                            await asyncio.sleep(0.5)
                        elapsed = time.perf_counter() - started
            finally:
                worker.stop()
                await engine.dispose()
                delete_queues(settings)
            return elapsed, sink.received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, default=500)
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    print("| worker processes | users | e-mails received | seconds | e-mails/s |")
    print("|---:|---:|---:|---:|---:|")
    for concurrency in args.concurrency:
        elapsed, received = asyncio.run(one_run(args.users, concurrency, args.chunk_size))
        print(
            f"| {concurrency} | {args.users:,} | {received:,} | {elapsed:.1f} | {received / elapsed:.0f} |", flush=True
        )


if __name__ == "__main__":
    main()
