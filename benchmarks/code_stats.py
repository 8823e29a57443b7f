"""A code's stats at a million uses: the rollup's read, what summing the ledger would cost, over HTTP with wrk.

    .venv/bin/python -m benchmarks.code_stats --database postgresql --usages 1000000
    .venv/bin/python -m benchmarks.code_stats --database sqlite --usages 1000000

Makes a scratch database (PostgreSQL: a new database, dropped at the end; SQLite: a file),
migrates it, and copies N usages of ONE code into the ledger through ``insert_usages`` — the
ledger copy's own path, so the rollup is built as production builds it (and its cost is
timed). The uses are spread over 30 days, 1 % of them rolled back, 0.5 % live holds. Then:
``code_stats`` in-process; the same numbers summed from the ledger rows instead; and
``GET /api/v1/discountcode/{id}/stats/`` on a real uvicorn under ``wrk``. Prints Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from discounts.auth import Role, mint_token
from discounts.codes.models import DiscountCode, DiscountRule
from discounts.db import make_engine, make_sessionmaker, unit_of_work
from discounts.directory.models import Brand
from discounts.fields import code_hash
from discounts.migrate import upgrade
from discounts.models import load_all
from discounts.settings import Settings
from discounts.usage import rollup
from discounts.usage.ledger import insert_usages
from discounts.usage.stats import code_stats
from discounts.usage.store import Status, Usage
from tests.services import POSTGRES_ADMIN_URL, free_port, wait_for_port

NOW = datetime.now(UTC).replace(microsecond=0)
CODE = "FLASHSALE"
SECRET = "benchmark-secret-that-is-long-enough-0123456789abcdef"
DAYS = 30


def usages(count: int) -> Iterator[Usage]:
    start = NOW - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / count
    for n in range(count):
        amount = Decimal(20 + n % 180)
        status = Status.USED
        hold_until = None
        if n % 100 == 7:
            status = Status.ROLLED_BACK
        elif n % 200 == 3 and n > count - count // 50:
            status, hold_until = Status.HELD, NOW + timedelta(minutes=15)
        yield Usage(
            code=CODE,
            user=f"user-{n:08}",
            brand="acme",
            discount=10,
            amount=amount,
            discount_amount=amount / 10,
            amount_to_pay=amount - amount / 10,
            used_at=start + n * step,
            status=status,
            hold_until=hold_until,
        )


async def fill(url: str, count: int, batch: int) -> float:
    """Brand, rule, code, then every usage through the ledger copy's insert; returns its seconds."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    async with unit_of_work(sessions) as uow:
        uow.session.add(Brand(id="acme", name="Acme", email="p@acme.example", created_at=NOW, updated_at=NOW))
        await uow.session.flush()
        rule = DiscountRule(brand="acme", discount=10, max_uses=2 * count, budget=Decimal(10**9), created_at=NOW)
        uow.session.add(rule)
        await uow.session.flush()
        created = NOW - timedelta(days=DAYS + 1)
        validity = NOW + timedelta(days=30)
        uow.session.add(DiscountCode(id=CODE, hash=code_hash(CODE), rule=rule, validity=validity, created_at=created))
    started = time.perf_counter()
    pending: list[Usage] = []
    for usage in usages(count):
        pending.append(usage)
        if len(pending) == batch:
            async with unit_of_work(sessions) as uow:
                await insert_usages(uow.session, pending)
            pending = []
    if pending:
        async with unit_of_work(sessions) as uow:
            await insert_usages(uow.session, pending)
    took = time.perf_counter() - started
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    await engine.dispose()
    return took


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


async def in_process(url: str, rounds: int) -> tuple[float, float, int]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    samples = []
    uses = 0
    for _ in range(rounds):
        async with sessions() as session:
            started = time.perf_counter()
            code = await session.get_one(DiscountCode, CODE)
            stats = await code_stats(session, code, NOW)
            samples.append((time.perf_counter() - started) * 1000)
            uses = stats.uses
    await engine.dispose()
    return (*percentiles(samples), uses)


def ledger_sums(dialect: str) -> str:
    """What the stats would read without the rollup: every row of the code, summed by hour."""
    hour = "date_trunc('hour', used_at, 'UTC')" if dialect == "postgresql" else "substr(used_at, 1, 13)"
    return (
        f"SELECT {hour}, coalesce(currency, ''), count(*), sum(amount), sum(discount_amount)"
        f" FROM discount_usage WHERE code = '{CODE}' AND status = 'used' GROUP BY 1, 2"
    )


async def summed_from_ledger(url: str, dialect: str, rounds: int) -> tuple[float, float]:
    engine = make_engine(url)
    samples = []
    async with engine.connect() as conn:
        for _ in range(rounds):
            started = time.perf_counter()
            await conn.execute(text(ledger_sums(dialect)))
            await conn.execute(text(f"SELECT count(*), sum(discount_amount) FROM discount_usage WHERE code = '{CODE}'"))
            samples.append((time.perf_counter() - started) * 1000)
    await engine.dispose()
    return percentiles(samples)


WRK_LINE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def over_http(url: str, data_dir: Path, seconds: int, connections: int) -> dict[str, float]:
    """uvicorn serving the app on the database, ``wrk`` on the stats route with a brand's token."""
    settings = Settings(jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    token = mint_token(settings, role=Role.brand, sub="acme", brand="acme", ttl=timedelta(hours=1), now=NOW)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCOUNTS_")}
    env.update(DISCOUNTS_DATABASE_URL=url, DISCOUNTS_DATA_DIR=str(data_dir), DISCOUNTS_JWT_SECRET=SECRET)
    env["DISCOUNTS_RATE_LIMIT"] = "100000000/minute"
    argv = [sys.executable, "-m", "uvicorn", "discounts.api.app:create_app", "--factory", "--port", str(port)]
    server = subprocess.Popen([*argv, "--no-access-log"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=30)
        target = f"http://127.0.0.1:{port}/api/v1/discountcode/{CODE}/stats/"
        header = f"Authorization: Bearer {token}"
        subprocess.run(["wrk", "-t1", "-c1", "-d2s", "-H", header, target], capture_output=True, check=True)
        wrk = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", header, target]
        out = subprocess.run(wrk, capture_output=True, text=True, check=True).stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
    found = {p: float(v) * UNITS[unit] for p, v, unit in WRK_LINE.findall(out)}
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} answers were not 200:\n{out}")
    return {"p50": found["50"], "p99": found["99"], "rate": rate}


def switch_rollup_off() -> None:
    """For the A/B of the copy's cost only: the ledger insert as it was before the rollup."""

    async def nothing(*_: object) -> None:
        return None

    async def unknown(*_: object) -> dict[object, object]:
        return {}

    rollup.lock_ledger, rollup.apply_moves = nothing, nothing  # type: ignore[assignment]
    rollup.known_states = unknown  # type: ignore[assignment]


async def admin(statement: str) -> None:
    engine = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace) -> None:
    load_all()
    with tempfile.TemporaryDirectory(prefix="discounts-stats-") as scratch:
        name = None
        if args.database == "postgresql":
            name = f"discounts_bench_{uuid.uuid4().hex[:10]}"
            await admin(f'CREATE DATABASE "{name}"')
            url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        else:
            url = f"sqlite+aiosqlite:///{Path(scratch) / 'ledger.sqlite3'}"
        try:
            await upgrade(url)
            if args.without_rollup:
                switch_rollup_off()
            filled = await fill(url, args.usages, args.batch)
            kept = "no rollup (the insert before issue 11)" if args.without_rollup else "rollup kept"
            print(
                f"| {args.database} | ledger copy of {args.usages:,} usages (batches of {args.batch:,}), {kept}"
                f" | {args.usages / filled:,.0f} usages/s |"
            )
            if args.without_rollup:
                return
            p50, p99, uses = await in_process(url, args.rounds)
            print(
                f"| {args.database} | `code_stats` in-process ({uses:,} uses), {args.rounds} calls"
                f" | p50 {p50:.1f} ms, p99 {p99:.1f} ms |"
            )
            s50, s99 = await summed_from_ledger(url, args.database, max(3, args.rounds // 20))
            print(
                f"| {args.database} | the same sums read from the ledger's rows (no rollup)"
                f" | p50 {s50:.0f} ms, p99 {s99:.0f} ms |"
            )
            http = over_http(
                url.replace("+asyncpg", "").replace("+aiosqlite", ""),
                Path(scratch) / "data",
                args.seconds,
                args.connections,
            )
            print(
                f"| {args.database} | `GET …/stats/` over HTTP, wrk {args.connections} connections, {args.seconds} s"
                f" | {http['rate']:,.0f} req/s, p50 {http['p50']:.1f} ms, p99 {http['p99']:.1f} ms |"
            )
        finally:
            if name:
                await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--usages", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="rows per ledger copy (DISCOUNTS_LEDGER_BATCH_SIZE)")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--without-rollup", action="store_true", help="only time the ledger copy, rollup off")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
