"""Time to rebuild the Redis usage store from a PostgreSQL ledger of N usages (and to verify it).

    .venv/bin/python -m benchmarks.usage_rebuild --usages 10000000

Creates a scratch PostgreSQL database (dropped at the end), migrates it, loads 1,000 live
codes and N ledger rows (the design's Zipf workload) with COPY, starts its own
redis-server, then times ``rebuild_store`` and ``verify_store`` exactly as
``discounts usage rebuild`` / ``verify`` run them. Prints Markdown table rows.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import timedelta
from itertools import islice

import asyncpg
from sqlalchemy import text

from benchmarks.usage_common import (
    NOW,
    code_name,
    machine,
    private_redis,
    stop_cleanly_on_sigterm,
    store_settings,
    workload,
)
from discounts.db import make_engine, make_sessionmaker
from discounts.fields import code_hash
from discounts.migrate import upgrade
from discounts.models import load_all
from discounts.usage.ledger import rebuild_store, verify_store
from discounts.usage.redis_store import open_redis_store
from tests.services import POSTGRES_ADMIN_URL

GRACE = timedelta(days=7)
VALIDITY = NOW + timedelta(days=60)


async def admin(statement: str) -> None:
    engine = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def fill_ledger(dsn: str, usages: int) -> float:
    """1,000 codes of one brand, then every usage with COPY (the fastest way in, not what we time)."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO brands (id, name, email, created_at, updated_at) VALUES ($1, $1, $2, $3, $3)",
            "acme",
            "promo@acme.example",
            NOW,
        )
        for rank in range(1, 1001):
            rule = await conn.fetchval(
                "INSERT INTO discount_rules (brand, discount, created_at) VALUES ('acme', 10, $1) RETURNING id", NOW
            )
            await conn.execute(
                "INSERT INTO discount_codes (id, hash, rule_id, validity, created_at) VALUES ($1, $2, $3, $4, $5)",
                code_name(rank),
                code_hash(code_name(rank)),
                rule,
                VALIDITY,
                NOW,
            )
        columns = ["code", "user_id", "brand", "discount", "amount", "discount_amount", "amount_to_pay", "used_at"]
        rows = workload(usages)
        while part := list(islice(rows, 200_000)):
            records = [
                (u.code, u.user, u.brand, u.discount, u.amount, u.discount_amount, u.amount_to_pay, u.used_at)
                for u in part
            ]
            await conn.copy_records_to_table("discount_usage", records=records, columns=columns)
        await conn.execute("ANALYZE discount_usage")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    load_all()
    name = f"discounts_bench_{uuid.uuid4().hex[:10]}"
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    await admin(f'CREATE DATABASE "{name}"')
    try:
        await upgrade(url)
        filled = await fill_ledger(url.replace("postgresql+asyncpg", "postgresql"), args.usages)
        print(f"<!-- ledger of {args.usages:,} usages loaded with COPY in {filled:.0f} s; {machine()} -->", flush=True)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        with private_redis() as server:
            store = open_redis_store(server.url, store_settings())
            started = time.perf_counter()
            report = await rebuild_store(store, sessions, now=NOW, grace=GRACE, batch_size=args.batch)
            rebuilt = time.perf_counter() - started
            assert report.restored == args.usages, report
            rate = args.usages / rebuilt
            print(f"| rebuild {args.usages:,} usages, batch {args.batch} | {rebuilt:.0f} s | {rate:,.0f} usages/s |")
            started = time.perf_counter()
            verified = await verify_store(store, sessions, now=NOW, grace=GRACE, batch_size=args.batch)
            took = time.perf_counter() - started
            assert verified.consistent, verified
            assert verified.checked == args.usages, verified
            rate = args.usages / took
            print(f"| verify {args.usages:,} usages, batch {args.batch} | {took:.0f} s | {rate:,.0f} usages/s |")
            await store.close()
        await engine.dispose()
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--usages", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    stop_cleanly_on_sigterm()
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
