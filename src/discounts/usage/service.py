"""Redeeming a code: the checks of the contract, in its order, then one atomic claim within the limits."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import orjson

from discounts.auth import Principal, Role
from discounts.clock import Clock
from discounts.codes.cache import CodeCache
from discounts.codes.terms import CodeTerms, RuleTerms
from discounts.directory.groups import UserGroups
from discounts.errors import (
    CodeAlreadyUsed,
    CodeExhausted,
    CodeExpired,
    CodeNotActive,
    CodeNotFound,
    CurrencyMismatch,
    DiscountsError,
    HoldExpired,
    LinesRequired,
    MinAmountNotMet,
    NotCopiedYet,
    NotInGroup,
    UsageNotFound,
    UserMismatch,
)
from discounts.money import format_cents, from_cents, money_cents, to_cents
from discounts.pricing.cart import Line, price_lines
from discounts.usage.schemas import CartItem, RedemptionIn
from discounts.usage.store import NO_LIMITS, Allocations, Change, Limits, Outcome, Status, Usage, UsageStore

NO_CATEGORIES: frozenset[str] = frozenset()
#: Finds a usage in the durable ledger: ``(code, user, use)`` → the usage, or None.
LedgerLookup = Callable[[str, str, int], Awaitable[Usage | None]]


class HasValidity(Protocol):
    @property
    def validity(self) -> datetime: ...


def usage_expiry(code: HasValidity, grace: timedelta) -> datetime:
    """Usages of a code are kept until its validity has passed, plus a grace period."""
    return code.validity + grace


def limits_of(rule: RuleTerms, discount_cents: int = 0) -> Limits:
    """What the store's atomic step enforces for ``rule``, with ``discount_cents`` as this claim's share.

    A rule with none of the limits gets ``NO_LIMITS`` itself: the stores' fast path, and the
    layout every code had before rules had limits. Where a code's usages live depends only on
    the rule, so lookups pass ``limits_of(rule)`` too.
    """
    if rule.max_uses_per_user == 1 and not rule.limits_the_code:
        return NO_LIMITS
    budget = None if rule.budget is None else to_cents(rule.budget)
    return Limits(rule.max_uses_per_user, rule.max_uses, budget, discount_cents)


def check_unexpired(code: CodeTerms, now: datetime) -> None:
    if code.is_expired(now):
        raise CodeExpired(f"code {code.id} expired at {code.validity.isoformat()}")


def check_started(code: CodeTerms, now: datetime) -> None:
    rule = code.rule
    if not rule.is_active(now):
        assert rule.starts_at is not None
        raise CodeNotActive(f"code {code.id} can be used from {rule.starts_at.isoformat()}")


def admit_anyone(code: CodeTerms, now: datetime) -> None:
    """``Redeemer.admit`` for a code without a group: 410 expired, then 409 not yet."""
    assert code.rule.group is None
    check_unexpired(code, now)
    check_started(code, now)


def check_currency(code: CodeTerms, currency: str | None) -> None:
    """A rule with a currency takes orders in it only (a percent rule without one takes any)."""
    wanted = code.rule.currency
    if wanted is not None and currency != wanted:
        sent = f"not {currency}" if currency else "and the request names none"
        raise CurrencyMismatch(f"code {code.id} is in {wanted}, {sent}")


def check_minimum(code: CodeTerms, eligible: int) -> None:
    minimum = code.rule.min_amount_cents
    if minimum is not None and eligible < minimum:
        wanted, got = format_cents(minimum), format_cents(eligible)
        raise MinAmountNotMet(f"code {code.id} needs an eligible amount of {wanted}, not {got}")


def refusal(outcome: Outcome, code: CodeTerms, user: str) -> DiscountsError:
    """The 409 a store's refusal is: this user's uses are taken, or the code's."""
    if outcome is Outcome.USED:
        per_user = code.rule.max_uses_per_user
        times = "once" if per_user == 1 else f"{per_user} times"
        return CodeAlreadyUsed(f"user {user!r} has used code {code.id} {times} already")
    return CodeExhausted(f"code {code.id} has no uses or budget left for this order")


def cart_lines(items: Sequence[CartItem]) -> tuple[Line, ...]:
    """The request's lines as pricing takes them: ids (defaults: positions), subtotals in cents."""
    lines = []
    for index, item in enumerate(items):
        categories = frozenset(item.categories) if item.categories else NO_CATEGORIES
        line_id = item.id if item.id is not None else str(index)
        lines.append(Line(line_id, item.brand, money_cents(item.price) * item.quantity, item.product, categories))
    return tuple(lines)


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
        await self.admit(code, principal.sub, now)
        rule = code.rule
        check_currency(code, request.currency)
        if request.items is not None:
            lines = cart_lines(request.items)
            applied = price_lines(lines, rule.offer, rule.target)
            amount, eligible, discount = sum(line.subtotal for line in lines), applied.eligible, applied.discount
            allocations: Allocations | None = applied.allocations
        else:
            if rule.target.narrowed:
                raise LinesRequired(f"code {code.id} applies to some products only: send the order's lines (items)")
            assert request.amount is not None  # guaranteed by RedemptionIn
            amount = eligible = to_cents(request.amount)
            discount, allocations = rule.offer.discount(eligible), None
        check_minimum(code, eligible)
        held = request.hold and not dry_run
        usage = Usage(
            code=code.id,
            user=request.user,
            brand=rule.brand,
            discount=rule.discount,
            amount=from_cents(amount),
            discount_amount=from_cents(discount),
            amount_to_pay=from_cents(amount - discount),
            used_at=now,
            amount_off=rule.amount_off,
            currency=rule.currency or request.currency,
            status=Status.HELD if held else Status.USED,
            # Whole seconds: every store keeps a hold's end to the second.
            hold_until=(now + self.hold).replace(microsecond=0) if held else None,
            allocations=allocations,
        )
        limits = limits_of(rule, discount)
        recorded = await self.store.record(
            usage, expires_at=usage_expiry(code, self.grace), limits=limits, dry_run=dry_run
        )
        if not recorded:
            raise refusal(recorded.outcome, code, request.user)
        return dataclasses.replace(usage, use=recorded.use)

    async def admit(self, code: CodeTerms, user: str, now: datetime) -> None:
        """A code's checks before any pricing, in the contract's order: 410 expired, 403 group, 409 not yet.

        A code for everyone (no group) needs no await: ``admit_anyone`` is the same checks.
        """
        if code.rule.group is None:
            admit_anyone(code, now)
            return
        check_unexpired(code, now)
        if await self.groups.group_of(user) != code.rule.group:
            raise NotInGroup(f"code {code.id} is for users of group {code.rule.group!r}")
        check_started(code, now)

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

    async def give_back_usage(self, usage: Usage, now: datetime) -> Usage | None:
        """Give back a usage known from the ledger (a cart the store has forgotten); None if it was not live."""
        code = await self.codes.get(usage.code)
        limits = limits_of(code.rule)
        changed = await self.store.give_back(usage.code, usage.user, usage.use, limits=limits, now=now, usage=usage)
        return changed.usage if changed.change is Change.DONE else None

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
