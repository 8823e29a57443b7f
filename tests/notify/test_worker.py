"""The Celery side for real: worker processes, RabbitMQ or Redis as broker, a real SMTP server, batches.

These start ``python -m discounts worker`` subprocesses; they run on PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.codes.models import BatchAssignment, DiscountCode, DiscountCodeBatch
from discounts.notify.models import Delivery, Fanout, FanoutChunk
from discounts.settings import Settings
from tests.codes.conftest import batch_places
from tests.conftest import Api
from tests.notify.conftest import add_brand, add_users, user_rows
from tests.notify.sink import SMTPSink
from tests.notify.worker import WorkerProcess, delete_queues
from tests.services import RABBITMQ_URL, RedisServer, missing, port_open

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


@pytest.fixture
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if "redis" in request.node.name:
        server = RedisServer(tmp_path / "redis").start()
        yield server.url
        server.stop()
        return
    if not port_open("127.0.0.1", 5672):
        missing("RabbitMQ", "nothing listens on 127.0.0.1:5672")
    yield RABBITMQ_URL


@pytest.fixture
def settings(settings: Settings) -> Iterator[Settings]:
    """Own queues per test (the broker is shared), short leases so that a dead worker is noticed quickly."""
    configured = settings.model_copy(
        update={
            "queue_prefix": f"discounts-test-{uuid.uuid4().hex[:10]}",
            "fanout_chunk_size": 200,
            "fanout_window_chunks": 8,
            "fanout_lease_seconds": 3,
            "fanout_sweep_seconds": 1.0,
            "brand_digest_seconds": 1,
        }
    )
    yield configured
    if configured.broker_url and configured.broker_url.startswith("amqp"):
        delete_queues(configured)


async def wait_for(condition: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    """Poll often: every check is one cheap query, and each one saved is test time saved."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def fanout_done(sessions: async_sessionmaker[AsyncSession], code: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        async with sessions() as session:
            fanout = await session.get(Fanout, code)
            return fanout is not None and fanout.status == "done"

    return check


def message_ids(sink: SMTPSink) -> dict[str, Counter[str]]:
    """Per recipient, how many copies of each distinct message (by Message-ID) arrived."""
    parser = BytesHeaderParser()
    seen: dict[str, Counter[str]] = {}
    with sink._lock:
        raw = list(sink.raw)
    for rcpt, data in raw:
        headers = parser.parsebytes(data)
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "/api/v1/unsubscribe/?token=" in headers["List-Unsubscribe"]
        seen.setdefault(rcpt, Counter())[headers["Message-ID"]] += 1
    return seen


async def test_a_worker_fans_a_code_out_to_ten_thousand_users_exactly_once(
    api: Api, sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    worker = WorkerProcess(settings, tmp_path / "worker.log", beat=False).start()  # it boots while we seed
    try:
        await add_brand(sessions)
        await add_users(sessions, user_rows(10_000))
        await api.code("TENK")  # published to RabbitMQ once the request commits
        await wait_for(fanout_done(sessions, "TENK"), 150, "the fan-out to finish")
    finally:
        worker.stop()
    seen = message_ids(smtp_sink)
    assert len(seen) == 10_000
    assert all(list(copies.values()) == [1] for copies in seen.values())
    progress = await api.client.get("/api/v1/discountcode/TENK/notifications/", headers=api.auth.brand())
    assert progress.json() == {
        "code": "TENK",
        "status": "done",
        "total": 10_000,
        "sent": 10_000,
        "failed": 0,
        "skipped": 0,
    }


async def test_a_worker_killed_mid_fanout_and_restarted_reaches_every_user_once(
    api: Api, sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    """SIGKILL loses the in-flight chunks' leases and messages; redelivery, leases and the sweep recover.

    The one residual window: a message the server accepted whose Delivery row the kill beat
    to the commit goes out again, with the same Message-ID. At most one per killed process.
    """
    worker = WorkerProcess(settings, tmp_path / "worker.log", beat=True, concurrency=2).start()
    try:
        await add_brand(sessions)
        await add_users(sessions, user_rows(1500))
        await api.code("CRASH")

        async def some_sent() -> bool:
            return smtp_sink.count() >= 300

        await wait_for(some_sent, 60, "300 messages")
        worker.kill()
        killed_at = smtp_sink.count()
        async with sessions() as session:
            assert (await session.get_one(Fanout, "CRASH")).status == "sending"
            leased = (await session.scalars(select(FanoutChunk).where(FanoutChunk.status == "sending"))).all()
        assert leased, "the kill should have interrupted at least one chunk"
        worker = WorkerProcess(settings, tmp_path / "worker2.log", beat=True, concurrency=2).start()
        await wait_for(fanout_done(sessions, "CRASH"), 90, "the fan-out to finish after the restart")
    finally:
        worker.stop()
    seen = message_ids(smtp_sink)
    assert sorted(seen) == sorted(f"u{n:07d}@example.com" for n in range(1500))
    assert all(len(copies) == 1 for copies in seen.values())  # one message per user (one Message-ID)
    duplicates = sum(sum(copies.values()) - 1 for copies in seen.values())
    assert duplicates <= 2, f"more re-sends than killed processes: {duplicates}"
    assert smtp_sink.count() > killed_at
    async with sessions() as session:
        rows = (await session.scalars(select(Delivery).where(Delivery.code_id == "CRASH"))).all()
    assert len(rows) == 1500


async def test_on_redis_a_worker_retries_temporary_failures_records_permanent_ones_and_reports_uses(
    api: Api, sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    worker = WorkerProcess(settings, tmp_path / "worker.log", beat=True).start()
    try:
        await api.brand()
        await add_users(sessions, user_rows(30))
        smtp_sink.temporary["u0000004@example.com"] = 2
        smtp_sink.permanent.add("u0000009@example.com")
        await api.code("REDIS")
        await wait_for(fanout_done(sessions, "REDIS"), 60, "the fan-out to finish")
        for user in ("u0000001", "u0000002"):
            assert (await api.redeem("REDIS", user)).status_code == 201

        async def brand_told() -> bool:
            return smtp_sink.per_recipient()["promo@acme.example"] >= 1

        await wait_for(brand_told, 30, "the brand digest")
    finally:
        worker.stop()
    received = smtp_sink.per_recipient()
    assert received["u0000004@example.com"] == 1
    assert smtp_sink.rcpt_attempts["u0000004@example.com"] == 3  # two 451s, then accepted
    assert "u0000009@example.com" not in received
    assert smtp_sink.rcpt_attempts["u0000009@example.com"] == 1  # a 550 is not retried
    async with sessions() as session:
        [chunk] = (await session.scalars(select(FanoutChunk))).all()
        refused = await session.get_one(Delivery, ("REDIS", "u0000009"))
    assert (chunk.sent, chunk.failed, chunk.attempts) == (29, 1, 3)
    assert refused.status == "failed"
    digest = next(m for rcpt, m in smtp_sink.messages() if rcpt == "promo@acme.example")
    text = digest.get_body(("plain",)).get_content()
    assert "REDIS by u0000001" in text
    assert "REDIS by u0000002" in text


async def test_a_worker_killed_mid_batch_and_restarted_makes_exactly_count_codes_then_hands_them_out(
    api: Api, sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    """SIGKILL mid-step: that step's transaction never commits; redelivery (or the sweep) redoes it, once.

    Then the distribution: each of the 300 users is e-mailed one distinct code of the batch.
    """
    chunked = settings.model_copy(update={"batch_chunk_size": 2000})
    worker = WorkerProcess(chunked, tmp_path / "worker.log", beat=True).start()
    count = 60_000
    try:
        await api.brand()
        await add_users(sessions, user_rows(300))
        body = {"rule": {"brand": "acme", "discount": 15}, "validity": "2027-05-31T23:59:59Z", "count": count}
        created = await api.client.post(
            "/api/v1/discountcodebatch/", json=body | {"distribute": True}, headers=api.auth.brand()
        )
        assert created.status_code == 202, created.text
        batch_id = created.json()["id"]

        async def generated(at_least: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                async with sessions() as session:
                    batch = await session.get_one(DiscountCodeBatch, batch_id)
                    return batch.generated >= at_least

            return check

        await wait_for(await generated(6000), 60, "6,000 codes")
        worker.kill()
        async with sessions() as session:
            killed = await session.get_one(DiscountCodeBatch, batch_id)
        assert killed.status == "generating"
        assert killed.generated < count, "the batch finished before the kill: make it larger"
        assert await batch_places(sessions, batch_id) == list(range(1, killed.generated + 1))
        worker = WorkerProcess(chunked, tmp_path / "worker2.log", beat=True).start()
        await wait_for(await generated(count), 120, "the batch to finish after the restart")
        await wait_for(fanout_done(sessions, f"batch:{batch_id}"), 60, "the distribution to finish")
    finally:
        worker.stop()
    assert await batch_places(sessions, batch_id) == list(range(1, count + 1))  # no gap, no duplicate
    async with sessions() as session:
        distinct = await session.scalar(
            select(func.count(func.distinct(DiscountCode.id))).where(DiscountCode.batch_id == batch_id)
        )
        handed = dict((await session.execute(select(BatchAssignment.user_id, BatchAssignment.code_id))).all())
    assert distinct == count
    assert sorted(handed) == [f"u{n:07d}" for n in range(300)]
    assert len(set(handed.values())) == 300
    seen = message_ids(smtp_sink)
    assert sorted(seen) == [f"u{n:07d}@example.com" for n in range(300)]
    assert all(len(copies) == 1 for copies in seen.values())
    status = await api.client.get(f"/api/v1/discountcodebatch/{batch_id}/", headers=api.auth.brand())
    assert status.json()["distribution"]["sent"] == 300
