"""A batch's generation on SQLite and PostgreSQL: collisions drawn again, steps that never overlap or half-happen."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts import metrics
from discounts.auth import Principal, Role
from discounts.codes.batches import create_batch
from discounts.codes.generation import ALPHABET, StepOutcome, generate_step, stuck_batches
from discounts.codes.models import DiscountCode, DiscountCodeBatch
from discounts.codes.schemas import BatchIn, CodeIn, RuleIn
from discounts.codes.service import create_code
from discounts.db import unit_of_work
from discounts.events.dispatch import dispatch
from discounts.events.models import Event
from discounts.jobs.listeners import LISTENERS
from discounts.notify.models import Fanout
from discounts.usage.ledger import insert_usages, ledger_batches, live_codes
from tests.api.test_hot_path import count_queries
from tests.codes.conftest import batch_places, count_codes, generate_all
from tests.conftest import FakeClock
from tests.notify.conftest import add_brand
from tests.usage.conftest import usage

VALIDITY = datetime(2027, 5, 31, 23, 59, 59, tzinfo=UTC)
ACME = Principal("acme", Role.brand, "acme")


def spelled(*codes: str) -> bytes:
    """The random bytes that make ``CodeMaker`` draw exactly these codes (their part after the prefix)."""
    return bytes(ALPHABET.index(char) for code in codes for char in code)


class Scripted:
    """A random source that first returns the given draws, then real random bytes: collisions on demand."""

    def __init__(self, *draws: bytes) -> None:
        self.draws: Iterator[bytes] = iter(draws)
        self.calls = 0

    def __call__(self, n: int) -> bytes:
        self.calls += 1
        return next(self.draws, None) or secrets.token_bytes(n)


async def new_batch(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, count: int, **extra: object
) -> DiscountCodeBatch:
    data = BatchIn(rule=RuleIn(brand="acme", discount=10), validity=VALIDITY, count=count, **extra)  # type: ignore[arg-type]
    async with unit_of_work(sessions) as uow:
        return await create_batch(uow, ACME, data, clock())


async def codes_of(sessions: async_sessionmaker[AsyncSession], batch_id: str) -> list[str]:
    async with sessions() as session:
        query = select(DiscountCode.id).where(DiscountCode.batch_id == batch_id).order_by(DiscountCode.batch_seq)
        return list((await session.scalars(query)).all())


async def batch_row(sessions: async_sessionmaker[AsyncSession], batch_id: str) -> DiscountCodeBatch:
    async with sessions() as session:
        return await session.get_one(DiscountCodeBatch, batch_id)


@pytest.fixture
async def brand(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_brand(sessions, "acme")
    await add_brand(sessions, "other")


@pytest.mark.usefixtures("brand")
async def test_a_code_that_exists_anywhere_is_drawn_again_never_failing_the_batch(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Another brand's code, a code drawn twice in one draw, a code of an earlier step: each drawn again."""
    async with unit_of_work(sessions) as uow:
        other = Principal("other", Role.brand, "other")
        taken = CodeIn(id="VIP-AAAAAAA", rule=RuleIn(brand="other", discount=5), validity=VALIDITY)
        await create_code(uow, other, taken, clock())
    batch = await new_batch(sessions, clock, 4, prefix="vip-", length=7)
    collisions = metrics.BATCH_COLLISIONS._value.get()
    # Step 1 (3 codes): AAAAAAA is taken, BBBBBBB comes twice; step 2 (1 code): BBBBBBB again, from step 1.
    source = Scripted(spelled("AAAAAAA", "BBBBBBB", "BBBBBBB"), spelled("CCCCCCC", "DDDDDDD"), spelled("BBBBBBB"))
    step = await generate_all(sessions, batch.id, clock, chunk_size=3, random_bytes=source)
    assert step.outcome is StepOutcome.done
    codes = await codes_of(sessions, batch.id)
    # Place 1 drew the taken code and place 3 the repeat: the next draw fills both.
    assert codes[:3] == ["VIP-CCCCCCC", "VIP-BBBBBBB", "VIP-DDDDDDD"]
    assert len(set(codes)) == 4
    assert "VIP-AAAAAAA" not in codes
    assert await batch_places(sessions, batch.id) == [1, 2, 3, 4]
    assert metrics.BATCH_COLLISIONS._value.get() - collisions == 3
    assert (await batch_row(sessions, batch.id)).generated == 4


@pytest.mark.usefixtures("brand")
async def test_a_source_that_only_repeats_itself_fails_the_batch_and_writes_nothing_of_that_step(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    batch = await new_batch(sessions, clock, 5, length=7)
    assert (await generate_step(sessions, batch.id, clock(), chunk_size=2)).outcome is StepOutcome.more
    stuck = await generate_step(sessions, batch.id, clock(), chunk_size=2, random_bytes=lambda n: bytes(n))
    assert stuck.outcome is StepOutcome.failed
    row = await batch_row(sessions, batch.id)
    assert (row.status, row.generated) == ("failed", 2)
    assert row.error is not None
    assert "random source" in row.error
    assert await batch_places(sessions, batch.id) == [1, 2]
    assert (await generate_step(sessions, batch.id, clock(), chunk_size=2)).outcome is StepOutcome.not_ours


@pytest.mark.usefixtures("brand")
async def test_an_interrupted_step_leaves_the_batch_as_before_it(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """What a worker killed mid-step leaves: the step's transaction never commits, so no gap and no duplicate."""
    batch = await new_batch(sessions, clock, 7, length=7)
    await generate_step(sessions, batch.id, clock(), chunk_size=3)
    before = await count_codes(sessions)

    def dies(n: int) -> bytes:
        raise KeyboardInterrupt  # the process ends here, after this step's UPDATE and before its INSERT ends

    with pytest.raises(KeyboardInterrupt):
        await generate_step(sessions, batch.id, clock(), chunk_size=3, random_bytes=dies)
    row = await batch_row(sessions, batch.id)
    assert (row.status, row.generated, await count_codes(sessions)) == ("generating", 3, before)
    assert (await generate_all(sessions, batch.id, clock, chunk_size=3)).outcome is StepOutcome.done
    assert await batch_places(sessions, batch.id) == list(range(1, 8))


@pytest.mark.usefixtures("brand")
async def test_two_workers_on_one_step_write_it_once(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    batch = await new_batch(sessions, clock, 50)
    outcomes = await asyncio.gather(*(generate_step(sessions, batch.id, clock(), chunk_size=20) for _ in range(4)))
    assert sorted(step.outcome for step in outcomes) == [StepOutcome.more] + [StepOutcome.not_ours] * 3
    assert (await batch_row(sessions, batch.id)).generated == 20
    assert await batch_places(sessions, batch.id) == list(range(1, 21))


@pytest.mark.usefixtures("brand")
async def test_the_last_step_of_a_batch_records_batch_done_once_and_its_distribution_listens(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    batch = await new_batch(sessions, clock, 3, distribute=True)
    step = await generate_all(sessions, batch.id, clock, chunk_size=2)
    assert step.outcome is StepOutcome.done
    again = await generate_step(sessions, batch.id, clock(), chunk_size=2)
    assert again.outcome is StepOutcome.done
    async with sessions() as session:
        (event,) = (await session.scalars(select(Event).where(Event.type == "batch.done"))).all()
    data = orjson.loads(event.payload)["data"]
    assert (data["id"], data["status"], data["generated"], data["distribute"]) == (batch.id, "done", 3, True)
    assert await dispatch(sessions, LISTENERS, clock()) == 1
    async with sessions() as session:
        fanout = await session.get_one(Fanout, f"batch:{batch.id}")
    assert fanout.status == "queued"


@pytest.mark.usefixtures("brand")
async def test_the_sweep_finds_batches_whose_chain_of_steps_was_lost(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    queued = await new_batch(sessions, clock, 5)
    running = await new_batch(sessions, clock, 5)
    finished = await new_batch(sessions, clock, 1)
    await generate_step(sessions, running.id, clock(), chunk_size=2)
    await generate_all(sessions, finished.id, clock)
    interval, lease = timedelta(seconds=15), timedelta(seconds=60)
    assert await stuck_batches(sessions, clock(), interval=interval, lease=lease) == []
    clock.advance(seconds=20)
    assert await stuck_batches(sessions, clock(), interval=interval, lease=lease) == [queued.id]
    assert await stuck_batches(sessions, clock(), interval=interval, lease=lease) == []  # stamped: not at once again
    clock.advance(seconds=61)
    assert sorted(await stuck_batches(sessions, clock(), interval=interval, lease=lease)) == sorted(
        [queued.id, running.id]
    )


@pytest.mark.usefixtures("brand")
async def test_the_ledger_reads_of_a_rebuild_skip_batch_codes_nobody_used(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """A rebuild or a verify reads the ledger code by code: a million unused batch codes must not cost a query each."""
    batch = await new_batch(sessions, clock, 2500)
    await generate_all(sessions, batch.id, clock, chunk_size=2500)
    used = (await codes_of(sessions, batch.id))[1234]
    async with unit_of_work(sessions) as uow:
        await insert_usages(uow.session, [usage("u-1", code=used)])
    codes = await live_codes(sessions, now=clock(), grace=timedelta(days=7))
    assert len(codes) == 2500
    assert {live.limits.max_uses for live in codes} == {1}
    queries = count_queries(sessions)
    read = [usage async for batch in ledger_batches(sessions, codes, 100) for usage in batch]
    assert [(u.code, u.user) for u in read] == [(used, "u-1")]
    assert len(queries) == 4  # three questions of 1,000 codes each, then the one used code's rows
