"""Redeeming a code: the checks of the design, in the contract's order, then one atomic claim."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from discounts.auth import Principal, Role
from discounts.clock import Clock
from discounts.codes.cache import CodeCache
from discounts.errors import CodeAlreadyUsed, CodeExpired, UserMismatch
from discounts.money import Line, price_amount, price_cart
from discounts.usage.schemas import RedemptionIn
from discounts.usage.store import Usage, UsageStore


class HasValidity(Protocol):
    @property
    def validity(self) -> datetime: ...


def usage_expiry(code: HasValidity, grace: timedelta) -> datetime:
    """Usages of a code are kept until its validity has passed, plus a grace period."""
    return code.validity + grace


class Redeemer:
    """The redemption path, built once per process: the store, the code cache, the clock.

    A redemption runs no SQL: the code's terms come from the cache (a query only on a miss)
    and the usage store decides "used before" — so a flash sale costs the database nothing.
    """

    def __init__(self, store: UsageStore, codes: CodeCache, clock: Clock, grace: timedelta) -> None:
        self.store, self.codes, self.clock, self.grace = store, codes, clock, grace

    async def redeem(self, principal: Principal, request: RedemptionIn) -> Usage:
        """Use a code once: 403 for someone else, 404 unknown, 410 expired, 409 used before.

        The store's claim is the only arbiter of "used before": two concurrent requests both
        pass the expiry check, and exactly one of them wins the claim.
        """
        principal.require(Role.user)
        if request.user != principal.sub:
            raise UserMismatch(f"this token acts for user {principal.sub!r}, not {request.user!r}")
        code = await self.codes.get(request.code)
        now = self.clock()
        if code.is_expired(now):
            raise CodeExpired(f"code {code.id} expired at {code.validity.isoformat()}")
        if request.items is not None:
            lines = [Line(item.brand, item.price, item.quantity) for item in request.items]
            priced = price_cart(lines, code.brand, code.discount)
        else:
            assert request.amount is not None  # guaranteed by RedemptionIn
            priced = price_amount(request.amount, code.discount)
        usage = Usage(
            code=code.id,
            user=request.user,
            brand=code.brand,
            discount=code.discount,
            amount=priced.amount,
            discount_amount=priced.discount_amount,
            amount_to_pay=priced.amount_to_pay,
            used_at=now,
        )
        if not await self.store.record(usage, expires_at=usage_expiry(code, self.grace)):
            raise CodeAlreadyUsed(f"user {request.user!r} has used code {code.id} already")
        return usage
