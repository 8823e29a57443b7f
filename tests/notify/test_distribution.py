"""A batch's distribution: each user of the audience e-mailed one distinct code of it, once, through the fan-out."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.auth import Principal, Role
from discounts.codes.batches import create_batch, load_batch
from discounts.codes.models import BatchAssignment, DiscountCode
from discounts.codes.schemas import BatchIn, RuleIn
from discounts.db import unit_of_work
from discounts.directory.models import User
from discounts.events.dispatch import dispatch
from discounts.jobs.listeners import LISTENERS
from discounts.notify.chunks import ChunkOutcome, send_chunk
from discounts.notify.context import Notifier
from discounts.notify.fanout import plan_fanout
from discounts.notify.models import Delivery, FanoutChunk
from discounts.notify.progress import batch_view
from tests.codes.conftest import generate_all
from tests.conftest import FakeClock
from tests.notify.conftest import add_brand, add_users, run_fanout, user_rows
from tests.notify.sink import SMTPSink

VALIDITY = datetime(2027, 5, 31, 23, 59, 59, tzinfo=UTC)
ACME = Principal("acme", Role.brand, "acme")


async def distributed_batch(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, count: int, group: str | None = None
) -> str:
    """A batch with ``distribute``, generated to the end; returns its fan-out's name."""
    data = BatchIn(
        rule=RuleIn(brand="acme", discount=15, group=group), validity=VALIDITY, count=count, distribute=True, length=8
    )
    async with unit_of_work(sessions) as uow:
        batch = await create_batch(uow, ACME, data, clock())
    await generate_all(sessions, batch.id, clock, chunk_size=25)
    assert await dispatch(sessions, LISTENERS, clock()) == 1  # batch.done, heard by the e-mail
    return f"batch:{batch.id}"


def sent_codes(sink: SMTPSink) -> dict[str, list[str]]:
    """The code each recipient's messages carry, read from the mail as a user would."""
    found: dict[str, list[str]] = {}
    for rcpt, message in sink.messages():
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        (code,) = re.findall(r"^    ([A-Z0-9]{8})\r?$", text, flags=re.MULTILINE)
        assert code in message["Subject"]
        found.setdefault(rcpt, []).append(code)
    return found


async def assignments(sessions: async_sessionmaker[AsyncSession], batch_id: str) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.execute(
            select(BatchAssignment.user_id, BatchAssignment.code_id).where(BatchAssignment.batch_id == batch_id)
        )
        return {user: code for user, code in rows}


async def test_each_user_of_the_group_gets_one_distinct_code_of_the_batch_once(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions)
    await add_users(sessions, user_rows(90, "w", group="wholesale") + user_rows(20, "i", group="individual"))
    async with unit_of_work(sessions) as uow:
        await uow.session.execute(update(User).where(User.id.in_(["w0000004", "w0000061"])).values(unsubscribed=True))
    subject = await distributed_batch(sessions, clock, 100, group="wholesale")
    batch_id = subject.removeprefix("batch:")

    chunks = await run_fanout(notifier, subject, clock)  # 90 users in chunks of 40

    assert chunks == 3
    received = sent_codes(smtp_sink)
    expected = {f"w{n:07d}@example.com" for n in range(90) if n not in (4, 61)}
    assert set(received) == expected
    assert all(len(codes) == 1 for codes in received.values())
    codes = [codes[0] for codes in received.values()]
    assert len(set(codes)) == 88  # distinct
    given = await assignments(sessions, batch_id)
    assert {f"{user}@example.com": [code] for user, code in given.items()} == received  # recorded as sent
    async with sessions() as session:
        ours = set((await session.scalars(select(DiscountCode.id).where(DiscountCode.batch_id == batch_id))).all())
        delivered = (await session.scalars(select(Delivery.user_id).where(Delivery.code_id == subject))).all()
        batch = await load_batch(session, batch_id)
        view = await batch_view(session, batch)
    assert set(codes) <= ours
    assert len(delivered) == 88
    assert view.distribution is not None
    assert view.distribution.model_dump() == {"status": "done", "total": 90, "sent": 88, "failed": 0, "skipped": 2}
    assert batch.assigned == 88
    message_ids = {message["Message-ID"] for _, message in smtp_sink.messages()}
    assert len(message_ids) == 88


async def test_a_chunk_sent_again_sends_no_one_a_second_code(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions)
    await add_users(sessions, user_rows(30))
    subject = await distributed_batch(sessions, clock, 30)
    (chunk_id,) = await plan_fanout(notifier, subject, clock())
    assert (await send_chunk(notifier, chunk_id, clock)).outcome is ChunkOutcome.done
    async with unit_of_work(sessions) as uow:  # as if its message were delivered again after the chunk finished
        await uow.session.execute(update(FanoutChunk).where(FanoutChunk.id == chunk_id).values(status="queued"))
    assert (await send_chunk(notifier, chunk_id, clock)).outcome is ChunkOutcome.done
    assert sorted(smtp_sink.per_recipient().values()) == [1] * 30
    assert await plan_fanout(notifier, subject, clock()) == []  # planned once: no user is handed a second code


async def test_users_who_join_after_the_codes_ran_out_get_none(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    """``count`` covered the audience when the batch was made; the directory grew before it was sent."""
    await add_brand(sessions)
    await add_users(sessions, user_rows(10))
    subject = await distributed_batch(sessions, clock, 12)
    await add_users(sessions, user_rows(5, start=10))
    await run_fanout(notifier, subject, clock)
    received = sent_codes(smtp_sink)
    assert len(received) == 12
    assert len({codes[0] for codes in received.values()}) == 12
    async with sessions() as session:
        chunks = (await session.scalars(select(FanoutChunk).where(FanoutChunk.code_id == subject))).all()
    assert (sum(c.sent for c in chunks), sum(c.skipped for c in chunks)) == (12, 3)
