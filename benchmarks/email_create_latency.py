"""Latency of ``POST /api/v1/discountcode/`` with a small and a large directory (PostgreSQL + RabbitMQ).

    .venv/bin/python -m benchmarks.email_create_latency --users 100 100000 --requests 300

Creating a code only writes the code and its fan-out outbox row; the audience is read later,
by the worker. So the latency must not grow with the number of users. No worker runs here:
the fan-outs stay queued (their queues are deleted at the end, the database dropped).
The app runs in-process (httpx's ASGI transport): the figures are the server's own time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.email_common import bench_settings, scratch_database, seed_directory, stop_cleanly_on_sigterm
from discounts.api.app import create_app
from tests.conftest import Auth
from tests.notify.worker import delete_queues


async def measure(users: int, requests: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="email-bench-") as directory:
        async with scratch_database() as url:
            await seed_directory(url, users)
            settings = bench_settings(url, Path(directory))
            app = create_app(settings)
            latencies = []
            try:
                async with app.router.lifespan_context(app):
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                        headers = Auth(settings).brand()
                        for n in range(requests + 20):
                            body = {"id": f"C{n:06d}", "rule": {"brand": "acme", "discount": 10}}
                            body["validity"] = "2099-01-01T00:00:00Z"
                            started = time.perf_counter()
                            created = await client.post("/api/v1/discountcode/", json=body, headers=headers)
                            elapsed = time.perf_counter() - started
                            assert created.status_code == 201, created.text
                            if n >= 20:  # the first ones warm up connections and caches
                                latencies.append(elapsed * 1000)
                    await asyncio.sleep(1)  # let the background publisher finish before the app stops
            finally:
                delete_queues(settings)
            return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[100, 100_000])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    print("| users in directory | requests | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---:|---:|---:|---:|---:|---:|")
    for users in args.users:
        ms = sorted(asyncio.run(measure(users, args.requests)))
        p95, p99 = ms[int(len(ms) * 0.95)], ms[int(len(ms) * 0.99)]
        row = f"| {users:,} | {len(ms)} | {statistics.median(ms):.1f} | {p95:.1f} | {p99:.1f} | {ms[-1]:.1f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
