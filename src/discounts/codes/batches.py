"""Batches of single-use codes: creating one, reading it, streaming its codes.

These are plain functions on a session (or a sessionmaker), so the API, the command line and
the brand dashboard all read a batch the same way. The generation itself is ``generation.py``;
imports are ``imports.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.auth import Principal, Role
from discounts.background import GENERATE_BATCH, after_commit
from discounts.codes.generation import ALPHABET, SPACE_FACTOR, code_space, shortest_length
from discounts.codes.models import DiscountCode, DiscountCodeBatch, DiscountRule
from discounts.codes.schemas import BatchIn, RuleIn
from discounts.codes.service import check_validity, rule_for
from discounts.db import UnitOfWork
from discounts.directory.models import User, audience
from discounts.errors import BatchNotFound, BatchNotReady, InvalidInput

#: Codes per query when a batch's codes are streamed: a page in memory, never the batch.
PAGE = 5000
CSV_HEADER = "code,hash\r\n"


async def batch_rule(
    session: AsyncSession, principal: Principal, rule: RuleIn | int, validity: datetime, now: datetime
) -> DiscountRule:
    """The batch's rule: an inline one is single-use unless it says otherwise; an existing one as it is."""
    if isinstance(rule, RuleIn) and rule.max_uses is None:
        rule = rule.model_copy(update={"max_uses": 1})
    found = await rule_for(session, principal, rule, now)
    check_validity(found, isinstance(rule, RuleIn), validity, now)
    return found


async def add_batch(
    session: AsyncSession, rule: DiscountRule, validity: datetime, now: datetime, **state: Any
) -> DiscountCodeBatch:
    """A new batch row of ``rule`` (``state``: its kind, status and counts), flushed."""
    batch = DiscountCodeBatch(
        id=uuid.uuid4().hex,
        brand=rule.brand,
        rule=rule,
        validity=validity,
        distribute=False,
        assigned=0,
        created_at=now,
        updated_at=now,
        **state,
    )
    session.add(batch)
    await session.flush()
    return batch


async def create_batch(uow: UnitOfWork, principal: Principal, data: BatchIn, now: datetime) -> DiscountCodeBatch:
    """A new batch, ``queued``; its generation is enqueued once the request has committed."""
    principal.require(Role.brand)
    session = uow.session
    rule = await batch_rule(session, principal, data.rule, data.validity, now)
    prefix = data.prefix or ""
    if len(prefix) + data.length > 64:
        raise InvalidInput("prefix", f"prefix + length is at most 64 characters ({len(prefix)} + {data.length} here)")
    if code_space(data.length) < SPACE_FACTOR * data.count:
        shortest = shortest_length(data.count)
        raise InvalidInput(
            "length",
            f"{len(ALPHABET)}^{data.length} codes is less than 10^9 times {data.count:,}; use a length of"
            f" at least {shortest}",
        )
    if data.distribute:
        members = await session.scalar(select(func.count()).select_from(User).where(audience(rule.group))) or 0
        if data.count < members:
            group = f"group {rule.group!r}" if rule.group else "the directory"
            raise InvalidInput("count", f"{group} has {members:,} users: distributing needs a code for each")
    batch = await add_batch(
        session, rule, data.validity, now, kind="generated", status="queued", count=data.count, generated=0
    )
    batch.prefix, batch.length, batch.distribute = prefix, data.length, data.distribute
    await session.flush()
    after_commit(uow, GENERATE_BATCH, batch.id)
    return batch


async def load_batch(session: AsyncSession, batch_id: str) -> DiscountCodeBatch:
    """A batch by id, whoever's it is (the command line is the operator's)."""
    batch = await session.get(DiscountCodeBatch, batch_id) if len(batch_id) <= 32 else None
    if batch is None:
        raise BatchNotFound(f"no batch {batch_id!r}")
    return batch


async def get_batch(session: AsyncSession, principal: Principal, batch_id: str) -> DiscountCodeBatch:
    """One of the brand's batches; another brand's is not found, as an unknown one."""
    principal.require(Role.brand)
    batch = await load_batch(session, batch_id)
    if batch.brand != principal.brand:
        raise BatchNotFound(f"no batch {batch_id!r}")
    return batch


async def list_batches(session: AsyncSession, principal: Principal) -> list[DiscountCodeBatch]:
    """The brand's batches, newest first."""
    principal.require(Role.brand)
    query = select(DiscountCodeBatch).where(DiscountCodeBatch.brand == principal.brand)
    return list((await session.scalars(query.order_by(DiscountCodeBatch.created_at.desc()))).all())


def require_done(batch: DiscountCodeBatch) -> None:
    if batch.status != "done":
        raise BatchNotReady(f"batch {batch.id} is {batch.status}: {batch.generated:,} of {batch.count:,} codes")


async def batch_codes(
    sessions: async_sessionmaker[AsyncSession], batch_id: str, page: int = PAGE
) -> AsyncIterator[list[tuple[str, str]]]:
    """The batch's (code, hash) in order, a page at a time, each page a short query of its own.

    Keyset pagination on (batch_id, batch_seq), so the millionth code costs what the first did,
    and no transaction stays open while a slow client reads.
    """
    after = 0
    while True:
        async with sessions() as session:
            query = (
                select(DiscountCode.batch_seq, DiscountCode.id, DiscountCode.hash)
                .where(DiscountCode.batch_id == batch_id, DiscountCode.batch_seq > after)
                .order_by(DiscountCode.batch_seq)
                .limit(page)
            )
            rows = (await session.execute(query)).all()
        if not rows:
            return
        yield [(code, digest) for _, code, digest in rows]
        last = rows[-1][0]
        assert last is not None  # a batch's codes all have their place
        after = last
        if len(rows) < page:
            return


def csv_page(rows: list[tuple[str, str]]) -> str:
    """Lines of the batch's CSV (RFC 4180, CRLF); code strings and hashes hold nothing that needs quoting."""
    return "".join(f"{code},{digest}\r\n" for code, digest in rows)


async def csv_lines(sessions: async_sessionmaker[AsyncSession], batch_id: str) -> AsyncIterator[str]:
    """The batch as CSV: ``code,hash``, then a line per code, a page of lines at a time."""
    yield CSV_HEADER
    async for rows in batch_codes(sessions, batch_id):
        yield csv_page(rows)
