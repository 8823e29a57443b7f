"""Redeeming a code: the checks of the contract, in its order, then one atomic claim within the limits."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

import orjson

from discounts.auth import Principal, Role
from discounts.clock import Clock
from discounts.codes.cache import CodeCache
from discounts.codes.terms import RuleTerms
from discounts.directory.groups import UserGroups
from discounts.errors import (
    CodeAlreadyUsed,
    CodeExhausted,
    CodeExpired,
    CodeNotActive,
    CodeNotFound,
    CurrencyMismatch,
    HoldExpired,
    MinAmountNotMet,
    NotCopiedYet,
    NotInGroup,
    UsageNotFound,
    UserMismatch,
)
from discounts.money import Line, format_money, price_amount, price_cart, to_cents
from discounts.usage.schemas import RedemptionIn
from discounts.usage.store import NO_LIMITS, Change, Limits, Outcome, Status, Usage, UsageStore

#: Finds a usage in the durable ledger: ``(code, user, use)`` → the usage, or None.
LedgerLookup = Callable[[str, str, int], Awaitable[Usage | None]]


class HasValidity(Protocol):
    @property
    def validity(self) -> datetime: ...


def usage_expiry(code: HasValidity, grace: timedelta) -> datetime:
    """Usages of a code are kept until its validity has passed, plus a grace period."""
    return code.validity + grace


def limits_of(rule: RuleTerms, discount: Decimal = Decimal(0)) -> Limits:
    """What the store's atomic step enforces for ``rule``, with ``discount`` as this claim's share.

    A rule with none of the limits gets ``NO_LIMITS`` itself: the stores' fast path, and the
    layout every code had before rules had limits. Where a code's usages live depends only on
    the rule, so lookups pass ``limits_of(rule)`` too.
    """
    if rule.max_uses_per_user == 1 and not rule.limits_the_code:
        return NO_LIMITS
    budget = None if rule.budget is None else to_cents(rule.budget)
    return Limits(rule.max_uses_per_user, rule.max_uses, budget, to_cents(discount))


#: A usage id: the base64url (unpadded) JSON ``[code, user, use]`` — opaque to clients, found without a lookup table.
USAGE_ID_PATTERN = r"^[A-Za-z0-9_-]{8,256}$"


def usage_id(usage: Usage) -> str:
    return usage_ref(usage.code, usage.user, usage.use)


def usage_ref(code: str, user: str, use: int) -> str:
    """The id of the usage ``(code, user, use)``."""
    return base64.urlsafe_b64encode(orjson.dumps([code, user, use])).rstrip(b"=").decode()


def parse_usage_id(value: str) -> tuple[str, str, int]:
    """``(code, user, use)``; anything else is an unknown usage (404), never a 422 that tells ids apart."""
    try:
        code, user, use = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise UsageNotFound(f"no usage {value!r}") from None
    if not (isinstance(code, str) and isinstance(user, str) and isinstance(use, int) and use >= 1):
        raise UsageNotFound(f"no usage {value!r}")
    return code, user, use


class Redeemer:
    """The redemption path, built once per process: the store, the code cache, the groups, the clock.

    A redemption runs no SQL: the code's terms come from the cache (a query only on a miss),
    a group-limited code's user group from its own cache, and the usage store decides "used
    before", "all taken" and "over budget" in one step — so a flash sale costs the database nothing.
    """

    def __init__(
        self,
        store: UsageStore,
        codes: CodeCache,
        groups: UserGroups,
        clock: Clock,
        grace: timedelta,
        *,
        hold: timedelta = timedelta(minutes=15),
        ledger: LedgerLookup | None = None,
    ) -> None:
        self.store, self.codes, self.groups, self.clock, self.grace = store, codes, groups, clock, grace
        self.hold, self.ledger = hold, ledger

    async def redeem(self, principal: Principal, request: RedemptionIn) -> Usage:
        """Use a code, in the contract's order of refusals; the store's claim is the only arbiter of limits.

        Two concurrent requests both pass the checks before the claim, and the claim lets
        through exactly as many as the limits allow.
        """
        return await self._use(principal, request, dry_run=False)

    async def quote(self, principal: Principal, request: RedemptionIn) -> Usage:
        """What :meth:`redeem` would answer now — the same checks, the same step of the store — recording nothing."""
        return await self._use(principal, request, dry_run=True)

    async def _use(self, principal: Principal, request: RedemptionIn, *, dry_run: bool) -> Usage:
        principal.require(Role.user)
        if request.user != principal.sub:
            raise UserMismatch(f"this token acts for user {principal.sub!r}, not {request.user!r}")
        code = await self.codes.get(request.code)
        now = self.clock()
        if code.is_expired(now):
            raise CodeExpired(f"code {code.id} expired at {code.validity.isoformat()}")
        rule = code.rule
        if rule.group is not None and await self.groups.group_of(principal.sub) != rule.group:
            raise NotInGroup(f"code {code.id} is for users of group {rule.group!r}")
        if not rule.is_active(now):
            assert rule.starts_at is not None
            raise CodeNotActive(f"code {code.id} can be used from {rule.starts_at.isoformat()}")
        if rule.currency is not None and request.currency != rule.currency:
            sent = f"not {request.currency}" if request.currency else "and the request names none"
            raise CurrencyMismatch(f"code {code.id} is in {rule.currency}, {sent}")
        if request.items is not None:
            lines = [Line(item.brand, item.price, item.quantity) for item in request.items]
            priced = price_cart(lines, rule.brand, rule.offer)
        else:
            assert request.amount is not None  # guaranteed by RedemptionIn
            priced = price_amount(request.amount, rule.offer)
        if rule.min_amount is not None and priced.eligible < rule.min_amount:
            minimum = format_money(rule.min_amount)
            raise MinAmountNotMet(f"code {code.id} needs an eligible amount of {minimum}, not {priced.eligible}")
        held = request.hold and not dry_run
        usage = Usage(
            code=code.id,
            user=request.user,
            brand=rule.brand,
            discount=rule.discount,
            amount=priced.amount,
            discount_amount=priced.discount_amount,
            amount_to_pay=priced.amount_to_pay,
            used_at=now,
            amount_off=rule.amount_off,
            currency=rule.currency or request.currency,
            status=Status.HELD if held else Status.USED,
            # Whole seconds: every store keeps a hold's end to the second.
            hold_until=(now + self.hold).replace(microsecond=0) if held else None,
        )
        limits = limits_of(rule, priced.discount_amount)
        recorded = await self.store.record(
            usage, expires_at=usage_expiry(code, self.grace), limits=limits, dry_run=dry_run
        )
        outcome = recorded.outcome
        if outcome is Outcome.USED:
            times = "once" if rule.max_uses_per_user == 1 else f"{rule.max_uses_per_user} times"
            raise CodeAlreadyUsed(f"user {request.user!r} has used code {code.id} {times} already")
        if outcome is Outcome.EXHAUSTED:
            raise CodeExhausted(f"code {code.id} has no uses or budget left for this order")
        return dataclasses.replace(usage, use=recorded.use)

    async def confirm(self, principal: Principal, usage_ref: str) -> Usage:
        """Turn the user's checkout hold into a use; confirming a used usage again answers the same."""
        code, user, use, limits = await self._usage_of(principal, usage_ref, Role.user, Role.service)
        changed = await self.store.confirm(code, user, use, limits=limits, now=self.clock())
        if changed.change is Change.EXPIRED:
            raise HoldExpired(f"the hold of usage {usage_ref} ended before it was confirmed")
        if changed.change is Change.NOT_FOUND:
            raise UsageNotFound(f"no usage {usage_ref}")
        return changed.usage or await self._from_ledger(code, user, use)

    async def give_back(self, principal: Principal, usage_ref: str) -> Usage:
        """Release a hold or roll back a use (a cancelled order, a failed payment): all it took comes back.

        Its user, the marketplace's service, or the code's brand (from its dashboard; the API
        keeps API.md's 403 for brand tokens) may.
        """
        code, user, use, limits = await self._usage_of(principal, usage_ref, Role.user, Role.service, Role.brand)
        now = self.clock()
        changed = await self.store.give_back(code, user, use, limits=limits, now=now)
        if changed.change is Change.NEEDS_USAGE:
            known = await self._from_ledger(code, user, use)
            changed = await self.store.give_back(code, user, use, limits=limits, now=now, usage=known)
        if changed.change is not Change.DONE or changed.usage is None:
            raise UsageNotFound(f"no usage {usage_ref}")
        return changed.usage

    async def _usage_of(self, principal: Principal, usage_ref: str, *roles: Role) -> tuple[str, str, int, Limits]:
        """The usage an id names, if the caller may act on it: its user, the service, or its code's brand."""
        principal.require(*roles)
        code_id, user, use = parse_usage_id(usage_ref)
        if principal.role is Role.user and principal.sub != user:
            raise UsageNotFound(f"no usage {usage_ref}")  # someone else's: not even its existence is told
        try:
            code = await self.codes.get(code_id)
        except CodeNotFound:
            raise UsageNotFound(f"no usage {usage_ref}") from None
        if principal.role is Role.brand and code.brand != principal.brand:
            raise UsageNotFound(f"no usage {usage_ref}")
        return code.id, user, use, limits_of(code.rule)

    async def _from_ledger(self, code: str, user: str, use: int) -> Usage:
        """A plain use's body: Redis keeps none (16 bytes a usage), the ledger has every one once copied."""
        found = None if self.ledger is None else await self.ledger(code, user, use)
        if found is None:
            raise NotCopiedYet("the usage is not in the ledger yet; retry in a moment")
        return found
