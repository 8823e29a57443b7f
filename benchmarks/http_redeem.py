"""Redemptions per second through the whole HTTP API (`discounts serve`), per usage store.

A flash sale as the service sees it: many different users redeeming one code at once, then
the same users trying again (every answer a 409). The load comes from one Python process on
the same machine (httpx, a fixed number of requests in flight), so it competes with the
server for the cores: the numbers are a floor, useful to compare the stores with each other.

    .venv/bin/python -m benchmarks.http_redeem --requests 5000 --in-flight 64 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from benchmarks.email_common import scratch_database
from benchmarks.usage_common import private_redis, stop_cleanly_on_sigterm
from discounts.settings import Settings
from tests.conftest import SECRET, make_token
from tests.system.conftest import Server, cli_env


async def blast(
    url: str, code: str, users: list[str], in_flight: int, tokens: dict[str, str]
) -> tuple[float, Counter[int]]:
    """Every user redeems ``code`` once; returns (seconds, statuses)."""
    statuses: Counter[int] = Counter()
    queue = iter(users)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

        async def worker() -> None:
            for user in queue:
                body = {"code": code, "user": user, "amount": "100.00"}
                headers = {"Authorization": f"Bearer {tokens[user]}"}
                response = await http.post("/api/v1/discountcodeusage/", json=body, headers=headers)
                statuses[response.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return time.perf_counter() - started, statuses


async def one_store(store: str, store_url: str | None, database_url: str, args: argparse.Namespace) -> list[str]:
    data = Path(tempfile.mkdtemp(prefix="http-bench-"))
    extra = (
        {"DISCOUNTS_RATE_LIMIT": "", "DISCOUNTS_USAGE_STORE_URL": store_url}
        if store_url
        else {"DISCOUNTS_RATE_LIMIT": ""}
    )
    server = Server(cli_env(data, database_url, **extra), "--workers", str(args.workers), "--no-background")
    settings = Settings(data_dir=data, jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    users = [f"{store}-u{n:06d}" for n in range(args.requests)]
    tokens = {user: make_token(settings, "user", user) for user in users}
    service = {"Authorization": f"Bearer {make_token(settings, 'service', 'bench')}"}
    brand = {"Authorization": f"Bearer {make_token(settings, 'brand', 'acme', 'acme')}"}
    code = f"FLASH-{store.upper()}"
    rows = []
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            await http.put("/api/v1/brands/acme/", json={"name": "Acme", "email": "p@acme.example"}, headers=service)
            created = await http.post(
                "/api/v1/discountcode/",
                json={"id": code, "rule": {"brand": "acme", "discount": 10}, "validity": "2099-01-01T00:00:00Z"},
                headers=brand,
            )
            assert created.status_code == 201, created.text
        for phase in ("first use (201)", "second use (409)"):
            seconds, statuses = await blast(server.url, code, users, args.in_flight, tokens)
            shown = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
            rows.append(f"| {store} | {phase} | {len(users)} | {shown} | {seconds:.1f} | {len(users) / seconds:,.0f} |")
    finally:
        server.stop()
    return rows


async def main_async(args: argparse.Namespace) -> None:
    rows: list[str] = []
    async with scratch_database() as database_url:
        rows += await one_store("embedded", None, database_url, args)
        with private_redis() as redis:
            rows += await one_store("redis", redis.url, database_url, args)
    print(f"{args.workers} API processes, {args.in_flight} requests in flight, PostgreSQL for codes")
    print("| usage store | phase | requests | statuses | seconds | requests/s |")
    print("|---|---|---:|---|---:|---:|")
    print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    stop_cleanly_on_sigterm()
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
