"""Importing codes a brand already has (moving from another platform): all of them, or none.

An import is a batch of its own (kind ``imported``, ``done`` at once), so its codes are
exported, counted and shown like a generated batch's. Every line that cannot be imported is
reported, each with its place: codes given twice (422) first, then codes that exist already
anywhere in the service (409 ``code_exists``). Existing codes are found by inserting with
``ON CONFLICT DO NOTHING`` and seeing which rows did not go in — no check-then-insert, so a
code created meanwhile is reported too — and the transaction is rolled back whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.auth import Principal, Role
from discounts.codes.batches import add_batch, batch_rule
from discounts.codes.bodies import as_data, batch_out
from discounts.codes.models import DiscountCode, DiscountCodeBatch
from discounts.codes.schemas import RuleIn
from discounts.db import UnitOfWork, dialect_insert
from discounts.errors import CodeExists, InvalidInput
from discounts.events.outbox import EventType, Happened, record
from discounts.fields import code_hash

CODES = cast(Table, DiscountCode.__table__)
#: Rows per INSERT statement (SQLite's bound-parameter limit).
ROWS_PER_STATEMENT = 1000


def twice(codes: Sequence[str]) -> list[tuple[int, int]]:
    """(place, first place) of every code that appears again after its first place."""
    first: dict[str, int] = {}
    again = []
    for place, code in enumerate(codes):
        seen = first.setdefault(code, place)
        if seen != place:
            again.append((place, seen))
    return again


async def import_codes(
    uow: UnitOfWork, principal: Principal, rule: RuleIn | int, validity: datetime, codes: Sequence[str], now: datetime
) -> DiscountCodeBatch:
    """A ``done`` batch holding ``codes`` (upper-case strings) in their order; raises listing every refused one.

    Places in errors are ``["body", "codes", index]``, as in the API's body (the command line turns them into lines).
    """
    principal.require(Role.brand)
    session = uow.session
    found = await batch_rule(session, principal, rule, validity, now)
    repeated = twice(codes)
    if repeated:
        raise InvalidInput.each(
            [(["codes", place], f"{codes[place]} is codes[{first}] again") for place, first in repeated]
        )
    count = len(codes)
    batch = await add_batch(
        session, found, validity, now, kind="imported", status="done", count=count, generated=count, finished_at=now
    )
    template = {"rule_id": found.id, "validity": validity, "created_at": now, "batch_id": batch.id}
    taken = await _insert(session, codes, template)
    if taken:
        errors: list[dict[str, Any]] = [
            {"loc": ["body", "codes", str(place)], "msg": f"{codes[place]} exists already", "type": "code_exists"}
            for place in taken
        ]
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise CodeExists(f"codes[{taken[0]}]: {codes[taken[0]]} exists already{more}", errors)
    await record(uow, [Happened(EventType.BATCH_DONE, batch.brand, as_data(batch_out(batch)), now)], now)
    return batch


async def _insert(session: AsyncSession, codes: Sequence[str], template: dict[str, Any]) -> list[int]:
    """Insert what is new; returns the places of the codes that exist already (nothing is undone here)."""
    insert = dialect_insert(session)
    statement = insert(CODES).on_conflict_do_nothing().returning(CODES.c.id)
    taken = []
    for start in range(0, len(codes), ROWS_PER_STATEMENT):
        part = codes[start : start + ROWS_PER_STATEMENT]
        rows = [
            {**template, "id": code, "hash": code_hash(code), "batch_seq": start + n + 1} for n, code in enumerate(part)
        ]
        added = set(await session.scalars(statement, rows))
        taken += [start + n for n, code in enumerate(part) if code not in added]
    return taken
