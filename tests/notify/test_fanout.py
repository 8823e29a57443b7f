"""The fan-out's domain functions (no Celery), on SQLite and PostgreSQL, against a real SMTP server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from discounts.db import make_sessionmaker, unit_of_work
from discounts.directory.models import User
from discounts.errors import MailTemporaryError
from discounts.jobs.queue import FORGET_DELIVERIES, make_celery, queue_names
from discounts.notify.chunks import FLUSH_SECONDS, ChunkOutcome, send_chunk
from discounts.notify.context import Notifier
from discounts.notify.fanout import cut, forget_deliveries, plan_fanout, sweep
from discounts.notify.mail import Connection
from discounts.notify.messages import Email
from discounts.notify.models import Delivery, Fanout, FanoutChunk
from discounts.notify.progress import progress
from discounts.settings import Settings
from tests.conftest import FakeClock
from tests.notify.conftest import add_brand, add_users, new_code, run_fanout, user_rows
from tests.notify.sink import SMTPSink


async def fanout_row(sessions: async_sessionmaker[AsyncSession], code: str) -> Fanout:
    async with sessions() as session:
        return await session.get_one(Fanout, code)


async def chunk_rows(sessions: async_sessionmaker[AsyncSession], code: str) -> list[FanoutChunk]:
    async with sessions() as session:
        query = select(FanoutChunk).where(FanoutChunk.code_id == code).order_by(FanoutChunk.seq)
        return list((await session.scalars(query)).all())


def test_cut_makes_consecutive_ranges() -> None:
    assert cut(["a", "b", "c", "d", "e"], 2, None) == [(None, "b", 2), ("b", "d", 2), ("d", "e", 1)]
    assert cut(["x"], 5, "k") == [("k", "x", 1)]
    assert cut([], 5, "k") == []


async def test_each_user_gets_one_message_with_a_one_click_unsubscribe(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions)
    await add_users(sessions, user_rows(130))
    code = await new_code(sessions, clock, "SPRING")
    assert (await fanout_row(sessions, code)).status == "queued"

    chunks = await run_fanout(notifier, code, clock)

    assert chunks == 4  # 130 users in chunks of 40, the last one planned when the first was done
    assert smtp_sink.per_recipient() == {f"u{n:07d}@example.com": 1 for n in range(130)}
    rcpt, message = smtp_sink.messages()[0]
    assert message["To"] == rcpt
    assert "SPRING" in message["Subject"]
    assert "Acme" in message["Subject"]
    link = message["List-Unsubscribe"].strip(" <>")
    assert link.startswith("http://discounts.test/api/v1/unsubscribe/?token=")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert link in text
    assert link.replace("&", "&amp;") in html or link in html
    assert "15%" in text
    assert "2027-05-31 23:59 UTC" in text
    fanout = await fanout_row(sessions, code)
    assert (fanout.status, fanout.total, fanout.planned) == ("done", 130, True)
    assert sum(c.sent for c in await chunk_rows(sessions, code)) == 130


async def test_group_only_and_unsubscribed_users_are_skipped(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions)
    await add_users(sessions, user_rows(30, "w", group="wholesale") + user_rows(30, "i", group="individual"))
    async with unit_of_work(sessions) as uow:
        await uow.session.execute(update(User).where(User.id.in_(["w0000003", "w0000017"])).values(unsubscribed=True))
    code = await new_code(sessions, clock, "BULKBUY", group="wholesale")

    await run_fanout(notifier, code, clock)

    received = smtp_sink.per_recipient()
    assert set(received) == {f"w{n:07d}@example.com" for n in range(30) if n not in (3, 17)}
    assert set(received.values()) == {1}
    assert "wholesale" in smtp_sink.messages()[0][1].get_body(("plain",)).get_content()
    chunks = await chunk_rows(sessions, code)
    assert (sum(c.sent for c in chunks), sum(c.skipped for c in chunks)) == (28, 2)
    assert (await fanout_row(sessions, code)).total == 30


async def test_planning_stays_within_the_window(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await add_brand(sessions)
    await add_users(sessions, user_rows(200))
    code = await new_code(sessions, clock)

    first = await plan_fanout(notifier, code, clock())
    assert len(first) == 3  # the window
    assert await plan_fanout(notifier, code, clock()) == []  # full: nothing more until a chunk is done
    assert (await send_chunk(notifier, first[0], clock)).outcome is ChunkOutcome.done
    second = await plan_fanout(notifier, code, clock())
    assert len(second) == 1
    chunks = await chunk_rows(sessions, code)
    assert [(c.after_user, c.upto_user, c.size) for c in chunks] == [
        (None, "u0000039", 40),
        ("u0000039", "u0000079", 40),
        ("u0000079", "u0000119", 40),
        ("u0000119", "u0000159", 40),
    ]
    assert not (await fanout_row(sessions, code)).planned


async def test_a_temporary_failure_releases_the_chunk_and_the_retry_sends_only_the_rest(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions)
    await add_users(sessions, user_rows(10))
    code = await new_code(sessions, clock)
    smtp_sink.temporary["u0000006@example.com"] = 1
    [chunk] = await plan_fanout(notifier, code, clock())

    with pytest.raises(MailTemporaryError):
        await send_chunk(notifier, chunk, clock)
    assert smtp_sink.count() == 6
    [row] = await chunk_rows(sessions, code)
    assert (row.status, row.sent, row.lease_until) == ("sending", 6, None)  # released: the retry need not wait

    assert (await sweep(notifier, clock())).chunks == []  # Celery's retry comes first
    clock.advance(seconds=notifier.settings.fanout_lease_seconds + 1)
    assert (await sweep(notifier, clock())).chunks == [chunk]  # in case its retries ran out

    assert (await send_chunk(notifier, chunk, clock)).outcome is ChunkOutcome.done
    assert smtp_sink.per_recipient() == {f"u{n:07d}@example.com": 1 for n in range(10)}
    assert smtp_sink.rcpt_attempts["u0000006@example.com"] == 2
    [row] = await chunk_rows(sessions, code)
    assert (row.status, row.sent, row.attempts) == ("done", 10, 2)


async def test_a_permanent_failure_is_recorded_and_not_retried(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions)
    await add_users(sessions, user_rows(5))
    code = await new_code(sessions, clock)
    smtp_sink.permanent.add("u0000002@example.com")

    await run_fanout(notifier, code, clock)
    await run_fanout(notifier, code, clock)  # running it again changes nothing

    assert smtp_sink.count() == 4
    assert smtp_sink.rcpt_attempts["u0000002@example.com"] == 1
    async with sessions() as session:
        failed = await session.get_one(Delivery, (code, "u0000002"))
    assert failed.status == "failed"
    assert failed.error is not None
    assert "550" in failed.error
    [row] = await chunk_rows(sessions, code)
    assert (row.sent, row.failed, row.status) == (4, 1, "done")


async def test_a_leased_chunk_waits_for_its_holder_until_the_lease_runs_out(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    """A worker that died mid-chunk: its users already recorded are not e-mailed again."""
    await add_brand(sessions)
    await add_users(sessions, user_rows(8))
    code = await new_code(sessions, clock)
    [chunk] = await plan_fanout(notifier, code, clock())
    async with unit_of_work(sessions) as uow:  # the dead worker's state: a lease and 3 recorded deliveries
        await uow.session.execute(
            update(FanoutChunk)
            .where(FanoutChunk.id == chunk)
            .values(status="sending", lease_owner="dead", lease_until=clock() + timedelta(seconds=60), sent=3)
        )
        uow.session.add_all(Delivery(code_id=code, user_id=f"u{n:07d}", status="sent", at=clock()) for n in range(3))

    assert (await send_chunk(notifier, chunk, clock)).outcome is ChunkOutcome.not_ours
    assert smtp_sink.count() == 0
    clock.advance(seconds=61)
    found = await sweep(notifier, clock())
    assert found.chunks == [chunk]
    assert (await send_chunk(notifier, chunk, clock)).outcome is ChunkOutcome.done
    assert sorted(smtp_sink.per_recipient()) == [f"u{n:07d}@example.com" for n in range(3, 8)]
    assert (await fanout_row(sessions, code)).status == "done"
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 8


async def test_the_sweep_finds_lost_fanouts_and_chunks_once_per_interval(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await add_brand(sessions)
    await add_users(sessions, user_rows(100))
    lost = await new_code(sessions, clock, "LOST")  # its enqueue never happened (broker down)
    assert (await sweep(notifier, clock())).fanouts == []  # too fresh: the request's enqueue may still come
    clock.advance(seconds=notifier.settings.fanout_sweep_seconds + 1)
    assert (await sweep(notifier, clock())).fanouts == [lost]
    assert (await sweep(notifier, clock())).fanouts == []  # stamped: not again at once

    chunks = await plan_fanout(notifier, lost, clock())
    assert (await sweep(notifier, clock())).chunks == []  # queued a moment ago
    clock.advance(seconds=notifier.settings.fanout_lease_seconds + 1)
    assert sorted((await sweep(notifier, clock())).chunks) == sorted(chunks)


async def test_an_empty_audience_is_done_at_once(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions)
    code = await new_code(sessions, clock, group="nobody")
    assert await run_fanout(notifier, code, clock) == 0
    fanout = await fanout_row(sessions, code)
    assert (fanout.status, fanout.total) == ("done", 0)
    assert smtp_sink.count() == 0


async def test_progress_is_written_while_sending_and_a_taken_lease_stops_the_sender(
    notifier: Notifier,
    sessions: async_sessionmaker[AsyncSession],
    smtp_sink: SMTPSink,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counters and lease ride along with a message's row once per FLUSH_SECONDS, not with every message.

    A worker that stalls past its lease finds, at the very next row, that another one took
    the chunk: it stops there, having sent nothing after the stall.
    """
    await add_brand(sessions)
    await add_users(sessions, user_rows(20))
    code = await new_code(sessions, clock)
    [chunk] = await plan_fanout(notifier, code, clock())
    progress: list[int] = []
    send = Connection.send

    async def send_and_look(connection: Connection, email: Email) -> None:
        await send(connection, email)
        clock.advance(seconds=FLUSH_SECONDS / 2)  # a flush every second message
        async with sessions() as session:
            progress.append((await session.get_one(FanoutChunk, chunk)).sent)
        if len(progress) == 5:  # the worker stalls past its lease; another one takes the chunk over
            clock.advance(seconds=notifier.settings.fanout_lease_seconds + 1)
            async with unit_of_work(sessions) as uow:
                taken = {"lease_owner": "other", "lease_until": clock() + notifier.lease}
                await uow.session.execute(update(FanoutChunk).where(FanoutChunk.id == chunk).values(**taken))

    monkeypatch.setattr(Connection, "send", send_and_look)
    assert (await send_chunk(notifier, chunk, clock)).outcome is ChunkOutcome.lease_lost

    assert progress == [0, 0, 2, 2, 4]  # as seen right after each message left, before its row
    assert smtp_sink.count() == 5
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 5  # the fifth row, too
        row = await session.get_one(FanoutChunk, chunk)
    assert (row.lease_owner, row.status) == ("other", "sending")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_internationalized_address_goes_out_only_over_smtputf8(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    """RFC 6531: a server without SMTPUTF8 can never take the address, so it is refused for good, not retried."""
    await add_brand(sessions)
    await add_users(sessions, [*user_rows(1), {**user_rows(1, "j")[0], "email": "jörg@exämple.com"}])
    first = await new_code(sessions, clock, "FIRST")
    await run_fanout(Notifier.build(settings, sessions), first, clock)  # aiosmtpd offers SMTPUTF8 by default
    received = dict(smtp_sink.raw)
    assert set(received) == {"u0000000@example.com", "jörg@exämple.com"}
    assert "To: jörg@exämple.com\r\n".encode() in received["jörg@exämple.com"]

    ascii_only = SMTPSink(enable_SMTPUTF8=False).start()
    try:
        second = await new_code(sessions, clock, "SECOND")
        without = settings.model_copy(update={"smtp_url": ascii_only.url})
        await run_fanout(Notifier.build(without, sessions), second, clock)
        assert ascii_only.per_recipient() == {"u0000000@example.com": 1}
    finally:
        ascii_only.stop()
    async with sessions() as session:
        refused = await session.get_one(Delivery, (second, "j0000000"))
    assert refused.status == "failed"
    assert "internationalized" in (refused.error or "")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_chunks_asynchronous_commits_stay_on_its_own_connection(
    settings: Settings, clock: FakeClock, smtp_sink: SMTPSink
) -> None:
    """Its connection commits without waiting for the WAL flush, then is closed, never pooled:
    nothing else (a lease, a ledger copy) may ever commit that way."""
    engine = create_async_engine(settings.resolved_database_url, pool_size=2, max_overflow=0)
    sessions = make_sessionmaker(engine)
    try:
        await add_brand(sessions)
        await add_users(sessions, user_rows(50))
        code = await new_code(sessions, clock)
        assert await run_fanout(Notifier.build(settings, sessions), code, clock) == 2
        async with engine.connect() as one, engine.connect() as two:  # every connection the pool can give
            seen = [await connection.scalar(text("SHOW synchronous_commit")) for connection in (one, two)]
    finally:
        await engine.dispose()
    assert seen == ["on", "on"]
    assert smtp_sink.count() == 50


async def delivery_count(sessions: async_sessionmaker[AsyncSession], code: str) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).where(Delivery.code_id == code)) or 0)


async def test_a_finished_fanout_forgets_its_deliveries_after_the_retention_and_keeps_its_counts(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await add_brand(sessions)
    await add_users(sessions, user_rows(130))
    old = await new_code(sessions, clock, "OLDSALE")
    await run_fanout(notifier, old, clock)
    clock.advance(days=20)
    recent = await new_code(sessions, clock, "NEWSALE")
    await run_fanout(notifier, recent, clock)
    unfinished = await new_code(sessions, clock, "NEXTSALE")
    await plan_fanout(notifier, unfinished, clock())
    (first_chunk, *_) = await chunk_rows(sessions, unfinished)
    await send_chunk(notifier, first_chunk.id, clock)
    keep = timedelta(days=30)

    assert await forget_deliveries(sessions, clock(), keep) == 0
    clock.advance(days=11)  # OLDSALE done 31 days ago, NEWSALE 11, NEXTSALE still sending

    # At most 60 a run, 50 a transaction: the first run stops after two batches, the next one finishes.
    assert await forget_deliveries(sessions, clock(), keep, batch=50, per_run=60) == 100
    assert (await fanout_row(sessions, old)).deliveries_forgotten_at is None
    assert await forget_deliveries(sessions, clock(), keep, batch=50, per_run=60) == 30
    assert (await fanout_row(sessions, old)).deliveries_forgotten_at == clock()
    assert await forget_deliveries(sessions, clock(), keep, batch=50, per_run=60) == 0

    assert await delivery_count(sessions, old) == 0
    assert await delivery_count(sessions, recent) == 130
    assert await delivery_count(sessions, unfinished) == 40
    assert (await fanout_row(sessions, recent)).deliveries_forgotten_at is None
    async with sessions() as session:
        counted = await progress(session, old)
    assert (counted.status, counted.sent, counted.total) == ("done", 130, 130)


def test_old_deliveries_are_forgotten_every_ten_minutes_on_the_mail_queue(settings: Settings) -> None:
    """Beside the e-mail, never ahead of the ledger copy on the control queue."""
    app = make_celery(settings)
    entry = app.conf.beat_schedule["forget-deliveries"]
    assert entry["task"] == FORGET_DELIVERIES
    assert entry["schedule"] == timedelta(minutes=10)
    mail, _ = queue_names(settings)
    assert app.conf.task_routes[FORGET_DELIVERIES] == {"queue": mail}
