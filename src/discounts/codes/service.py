"""Creating rules and codes, and finding a code by its string or its hash."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.auth import Principal, Role
from discounts.codes.bodies import as_data, code_out
from discounts.codes.models import DiscountCode, DiscountRule
from discounts.codes.schemas import CodeIn, RuleIn
from discounts.db import UnitOfWork
from discounts.directory.models import Brand
from discounts.errors import (
    BrandMismatch,
    BrandNotRegistered,
    CodeExists,
    CodeNotFound,
    InvalidInput,
    RuleNotFound,
)
from discounts.events.outbox import EventType, Happened, record
from discounts.fields import code_hash, is_code_hash, is_code_string


async def create_rule(
    session: AsyncSession, principal: Principal, data: RuleIn, now: datetime, *, field: str = "brand"
) -> DiscountRule:
    """A new rule; ``field`` names the brand in errors (``rule.brand`` when inline in a code)."""
    principal.require(Role.brand)
    where = field.removesuffix("brand")
    for name, why in data.kind_errors():  # a malformed rule is refused before anything is looked up
        raise InvalidInput(f"{where}{name}", why)
    if data.brand != principal.brand:
        raise BrandMismatch(f"this token acts for brand {principal.brand!r}, not {data.brand!r}")
    if await session.get(Brand, data.brand) is None:
        raise BrandNotRegistered(field, data.brand)
    rule = DiscountRule(
        brand=data.brand,
        discount=data.discount,
        amount_off=data.amount_off,
        currency=data.currency,
        min_amount=data.min_amount,
        starts_at=data.starts_at,
        max_uses=data.max_uses,
        max_uses_per_user=data.max_uses_per_user,
        budget=data.budget,
        group=data.group,
        products=data.products,
        categories=data.categories,
        stackable=data.stackable,
        priority=data.priority,
        created_at=now,
    )
    session.add(rule)
    await session.flush()
    return rule


async def rule_for(session: AsyncSession, principal: Principal, rule: RuleIn | int, now: datetime) -> DiscountRule:
    """A new rule (inline), or the brand's existing rule by id."""
    if isinstance(rule, RuleIn):
        return await create_rule(session, principal, rule, now, field="rule.brand")
    existing = await session.get(DiscountRule, rule)
    if existing is None:
        raise RuleNotFound(f"no rule {rule}")
    if existing.brand != principal.brand:
        raise BrandMismatch(f"rule {rule} belongs to another brand")
    return existing


def check_validity(rule: DiscountRule, inline: bool, validity: datetime, now: datetime) -> None:
    """A validity in the future and after the rule's start (``inline``: the rule is new)."""
    if validity <= now:
        raise InvalidInput("validity", "must be in the future")
    if rule.starts_at is not None and rule.starts_at >= validity:
        field = "rule.starts_at" if inline else "validity"
        raise InvalidInput(field, "the rule's starts_at must be before the code's validity")


async def create_code(uow: UnitOfWork, principal: Principal, data: CodeIn, now: datetime) -> DiscountCode:
    """A new code, and its ``code.created`` event (its users are e-mailed by a listener of it)."""
    principal.require(Role.brand)
    session = uow.session
    rule = await rule_for(session, principal, data.rule, now)
    check_validity(rule, isinstance(data.rule, RuleIn), data.validity, now)
    if await session.get(DiscountCode, data.id) is not None:
        raise CodeExists(f"code {data.id} exists already")
    code = DiscountCode(id=data.id, hash=code_hash(data.id), rule=rule, validity=data.validity, created_at=now)
    session.add(code)
    try:
        await session.flush()
    except IntegrityError:
        raise CodeExists(f"code {data.id} exists already") from None
    await record(uow, [Happened(EventType.CODE_CREATED, rule.brand, as_data(code_out(code)), now)], now)
    return code


async def find_code(session: AsyncSession, ref: str) -> DiscountCode:
    """A code by its string (any case) or by the SHA-256 of its upper-case string."""
    candidates = []
    if is_code_string(ref):
        candidates.append(DiscountCode.id == ref.upper())
    if is_code_hash(ref):
        candidates.append(DiscountCode.hash == ref.lower())
    if candidates:
        found = (await session.scalars(select(DiscountCode).where(or_(*candidates)))).all()
        # A 64-hex-digit code string could also be some other code's hash: the string wins.
        for code in sorted(found, key=lambda c: c.id != ref.upper()):
            return code
    raise CodeNotFound(f"no code {ref!r}")


async def brand_code(session: AsyncSession, principal: Principal, ref: str) -> DiscountCode:
    """One of the brand's own codes, by string or hash; another brand's is 403 ``brand_mismatch``."""
    principal.require(Role.brand)
    code = await find_code(session, ref)
    if code.rule.brand != principal.brand:
        raise BrandMismatch(f"code {code.id} belongs to another brand")
    return code


async def find_codes(session: AsyncSession, refs: Sequence[str]) -> dict[str, DiscountCode]:
    """Many codes in one query, each under its ``ref.upper()``; unknown refs are left out.

    As :func:`find_code`: a string (any case) or a hash, the string winning for a ref that is both.
    """
    strings = {ref.upper() for ref in refs if is_code_string(ref)}
    hashes = {ref.lower() for ref in refs if is_code_hash(ref)}
    candidates = []
    if strings:
        candidates.append(DiscountCode.id.in_(strings))
    if hashes:
        candidates.append(DiscountCode.hash.in_(hashes))
    if not candidates:
        return {}
    found = (await session.scalars(select(DiscountCode).where(or_(*candidates)))).all()
    by_hash = {code.hash.upper(): code for code in found if code.hash in hashes}
    by_string = {code.id: code for code in found if code.id in strings}
    return by_hash | by_string


async def list_codes(session: AsyncSession, principal: Principal) -> list[DiscountCode]:
    """The brand's codes, but not those of its batches (a million of them: each batch lists its own)."""
    principal.require(Role.brand)
    query = select(DiscountCode).join(DiscountRule).where(DiscountRule.brand == principal.brand)
    query = query.where(DiscountCode.batch_id.is_(None))
    return list((await session.scalars(query.order_by(DiscountCode.created_at))).all())


async def list_rules(session: AsyncSession, principal: Principal) -> list[DiscountRule]:
    principal.require(Role.brand)
    query = select(DiscountRule).where(DiscountRule.brand == principal.brand).order_by(DiscountRule.id)
    return list((await session.scalars(query)).all())
