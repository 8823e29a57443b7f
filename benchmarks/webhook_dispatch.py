"""What dispatching events costs the worker and PostgreSQL, with no endpoint and with one subscribed.

The hot path's figure with an endpoint subscribed (`webhooks.py`) is the API process sharing two
cores with this work: per use, the dispatch claims its event and the webhooks' listener writes
its delivery row. Here that work alone: N `usage.used` events of one brand in a scratch
PostgreSQL database, dispatched in batches as the worker does; CPU of this process (the
worker's Python) and of every PostgreSQL process, per event.

    .venv/bin/python -m benchmarks.webhook_dispatch [--events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from benchmarks.email_common import proc_stat, scratch_database
from discounts.db import make_engine, make_sessionmaker, unit_of_work
from discounts.events import outbox
from discounts.events.dispatch import dispatch
from discounts.events.outbox import EventType, Happened
from discounts.webhooks.listener import on_events
from discounts.webhooks.models import WebhookDelivery, WebhookEndpoint


def postgres_seconds() -> float:
    """CPU seconds of every PostgreSQL process on this machine (backends, WAL writer, checkpointer)."""
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        fields = proc_stat(f"/proc/{pid}/stat") if name == "postgres" else None
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def measure(events: int, endpoint: bool) -> str:
    async with scratch_database() as url:
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        now = datetime.now(UTC)
        if endpoint:
            async with unit_of_work(sessions) as uow:
                uow.session.add(
                    WebhookEndpoint(
                        id="ep_bench",
                        owner_role="brand",
                        owner="acme",
                        brand="acme",
                        url="http://127.0.0.1:9/",
                        events='["usage.used"]',
                        enabled=True,
                        secret="whsec_bench",
                        created_at=now,
                        updated_at=now,
                    )
                )
        for start in range(0, events, 5000):
            used = [
                Happened(EventType.USAGE_USED, "acme", {"code": "FLASHSALE", "user": f"u{n}"}, now)
                for n in range(start, min(events, start + 5000))
            ]
            async with unit_of_work(sessions) as uow:
                await outbox.write(uow.session, used, now)
        worker, postgres = time.process_time(), postgres_seconds()
        dispatched = await dispatch(sessions, [on_events], datetime.now(UTC), most=events)
        worker, postgres = time.process_time() - worker, postgres_seconds() - postgres
        async with sessions() as session:
            owed = (await session.scalar(select(func.count()).select_from(WebhookDelivery))) or 0
        await engine.dispose()
    per = 1e6 / events
    return (
        f"| {'one endpoint' if endpoint else 'no endpoint'} | {dispatched:,} | {owed:,} "
        f"| {worker * per:.1f} | {postgres * per:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    print("| subscribed | events dispatched | deliveries written | worker µs/event | PostgreSQL µs/event |")
    print("|---|---:|---:|---:|---:|")
    for endpoint in (False, True):
        print(asyncio.run(measure(args.events, endpoint)))


if __name__ == "__main__":
    main()
