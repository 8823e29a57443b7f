from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.auth import Principal, Role
from discounts.codes.schemas import CodeIn, RuleIn
from discounts.codes.service import create_code
from discounts.db import unit_of_work
from discounts.directory.models import Brand, User
from discounts.events.dispatch import dispatch
from discounts.jobs.listeners import LISTENERS
from discounts.notify.chunks import ChunkOutcome, send_chunk
from discounts.notify.context import Notifier
from discounts.notify.fanout import plan_fanout
from discounts.settings import Settings
from tests.conftest import FakeClock
from tests.notify.sink import SMTPSink

VALIDITY = datetime(2027, 5, 31, 23, 59, 59, tzinfo=UTC)


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    sink = SMTPSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def broker_url() -> str | None:
    """None: the embedded filesystem broker in the test's data directory. Modules override it."""
    return None


@pytest.fixture
def settings(settings: Settings, smtp_sink: SMTPSink, broker_url: str | None) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": smtp_sink.url,
            "broker_url": broker_url,
            "fanout_chunk_size": 40,
            "fanout_window_chunks": 3,
            "fanout_lease_seconds": 60,
            "public_url": "http://discounts.test",
        }
    )


@pytest.fixture
async def notifier(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Notifier:
    return Notifier.build(settings, sessions)


def user_rows(count: int, prefix: str = "u", group: str | None = None, start: int = 0) -> list[dict[str, object]]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "id": f"{prefix}{n:07d}",
            "email": f"{prefix}{n:07d}@example.com",
            "group": group,
            "unsubscribed": False,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(start, start + count)
    ]


async def add_users(sessions: async_sessionmaker[AsyncSession], rows: Sequence[dict[str, object]]) -> None:
    async with unit_of_work(sessions) as uow:
        for start in range(0, len(rows), 5000):
            await uow.session.execute(insert(User), rows[start : start + 5000])


async def add_brand(sessions: async_sessionmaker[AsyncSession], brand: str = "acme") -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with unit_of_work(sessions) as uow:
        uow.session.add(
            Brand(id=brand, name=brand.title(), email=f"promo@{brand}.example", created_at=now, updated_at=now)
        )


async def new_code(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    code: str = "SPRING",
    group: str | None = None,
    brand: str = "acme",
) -> str:
    """A code created the way the API does it (service + unit of work), its event heard, so its fan-out is recorded."""
    data = CodeIn(id=code, rule=RuleIn(brand=brand, discount=15, group=group), validity=VALIDITY)
    async with unit_of_work(sessions) as uow:
        created = await create_code(uow, Principal(brand, Role.brand, brand), data, clock())
    await dispatch(sessions, LISTENERS, clock())
    return created.id


async def run_fanout(notifier: Notifier, code_id: str, clock: FakeClock) -> int:
    """What the tasks do, in one process: hear the events, plan, send each chunk, plan more; returns chunks sent."""
    await dispatch(notifier.sessions, LISTENERS, clock())
    queue = await plan_fanout(notifier, code_id, clock())
    done = 0
    while queue:
        result = await send_chunk(notifier, queue.pop(0), clock)
        assert result.outcome is ChunkOutcome.done
        done += 1
        queue += await plan_fanout(notifier, code_id, clock())
    return done
