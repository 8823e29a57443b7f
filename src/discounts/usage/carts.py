"""The marketplace cart: several brands' codes in one checkout, priced line by line, redeemed all or nothing.

Each code is checked exactly as a single redemption of it would be (the same functions, the
same reasons), in the contract's order, against the cart as the codes applied before it left
it; the arithmetic is ``pricing.cart``'s. A quote asks the store what each claim would answer
(``dry_run``) and drops the codes it refuses, pricing the rest again; a redemption hands the
whole cart to the store, which claims every code or none (``UsageStore.record_cart``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from discounts.auth import Principal, Role
from discounts.codes.terms import CodeTerms
from discounts.errors import (
    CartNotFound,
    CartRejected,
    CodeNotFound,
    CurrencyMismatch,
    DiscountsError,
    Forbidden,
    HoldExpired,
    MinAmountNotMet,
    UserMismatch,
)
from discounts.money import format_cents, from_cents
from discounts.pricing.cart import (
    COMBINATION_DISALLOWED,
    CURRENCY_MISMATCH,
    NOT_APPLICABLE,
    Applied,
    CartPrice,
    CodeOffer,
    Line,
    Refused,
    application_order,
    price_cart,
)
from discounts.usage.cart_schemas import CartIn, CartRedemptionIn
from discounts.usage.service import (
    Redeemer,
    admit_anyone,
    cart_lines,
    check_currency,
    check_minimum,
    limits_of,
    refusal,
    usage_expiry,
)
from discounts.usage.store import Cart, CartState, Change, Outcome, Status, StoredCart, Usage

#: Finds a cart in the durable ledger once the store has forgotten it: its id → the cart, or None.
LedgerCartLookup = Callable[[str], Awaitable[StoredCart | None]]


@dataclass(frozen=True, slots=True)
class Rejection:
    code: str
    reason: str
    detail: str

    def body(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class CartQuote:
    """A cart priced now: what was applied (in order), what was refused (in the request's order)."""

    user: str
    currency: str | None
    price: CartPrice
    codes: dict[str, CodeTerms]
    rejected: tuple[Rejection, ...]

    def summary(self) -> dict[str, object]:
        """The priced cart as the API answers it (without ``rejected``): kept with a redemption for its confirm."""
        price = self.price
        taken = price.discount_by_line()
        amount, discount = price.amount, price.discount
        codes = self.codes
        return {
            "user": self.user,
            "currency": self.currency,
            "applied": [applied_body(a, codes[a.code.code]) for a in price.applied],
            "lines": [
                {
                    "id": line.id,
                    "subtotal": format_cents(line.subtotal),
                    "discount": format_cents(taken[line.id]),
                    "total": format_cents(line.subtotal - taken[line.id]),
                }
                for line in price.lines
            ],
            "amount": format_cents(amount),
            "discount_amount": format_cents(discount),
            "amount_to_pay": format_cents(amount - discount),
        }


@dataclass(frozen=True, slots=True)
class RedeemedCart:
    """A cart as its redemption recorded it, and its summary as a dict: the answer is built without reading it back."""

    cart: StoredCart
    summary: dict[str, Any]


def applied_body(applied: Applied, code: CodeTerms) -> dict[str, object]:
    body: dict[str, object] = {"code": code.id, "brand": code.brand}
    body.update(code.pricing.offer.fields())
    body["discount_amount"] = format_cents(applied.discount)
    body["allocations"] = [{"line": line, "amount": format_cents(cents)} for line, cents in applied.allocations]
    return body


class CartCheckout:
    """Quotes, redeems, confirms and gives back carts, on the single redemption's checks and store."""

    def __init__(self, redeemer: Redeemer, ledger: LedgerCartLookup | None = None) -> None:
        self.redeemer, self.ledger = redeemer, ledger

    async def quote(self, principal: Principal, request: CartIn) -> CartQuote:
        """Every code checked in order, refused ones listed with their reasons; nothing recorded."""
        _check_user(principal, request.user)
        now = self.redeemer.clock()
        lines = cart_lines(request.lines)
        found, refused = await self._admit(request.codes, principal.sub, now)
        return await self._priced(request, lines, found, refused, now)

    async def redeem(self, principal: Principal, request: CartRedemptionIn, cart_id: str) -> RedeemedCart:
        """All or nothing: 409 ``cart_rejected`` if the quote of this cart would refuse any code."""
        _check_user(principal, request.user)
        redeemer = self.redeemer
        now = redeemer.clock()
        lines = cart_lines(request.lines)
        found, refused = await self._admit(request.codes, principal.sub, now)
        price = price_cart(lines, _in_application_order(request.codes, found), request.currency)
        if refused or price.refused:
            raise _rejected(await self._priced(request, lines, found, refused, now))
        quote = CartQuote(request.user, request.currency, price, found, ())
        held = request.hold
        hold_until = (now + redeemer.hold).replace(microsecond=0)
        amount = from_cents(price.amount)
        usages, limits, expires_at = [], [], []
        for applied in price.applied:
            code = found[applied.code.code]
            usages.append(self._usage(code, applied, request, amount, now, cart_id, held, hold_until))
            limits.append(limits_of(code.rule, applied.discount))
            expires_at.append(usage_expiry(code, redeemer.grace))
        summary = quote.summary()
        cart = Cart(
            cart_id, request.user, tuple(usages), tuple(limits), tuple(expires_at), orjson.dumps(summary), hold_until
        )
        recorded = await redeemer.store.record_cart(cart, now=now)
        if not recorded:
            again = await self._priced(request, lines, found, refused, now)
            if not again.rejected:  # the race is over already: say what the claims met
                failed = [
                    _rejection(refusal(outcome, found[applied.code.code], request.user), applied.code.code)
                    for applied, outcome in zip(price.applied, recorded.outcomes, strict=True)
                    if outcome is not Outcome.CLAIMED
                ]
                again = dataclasses.replace(again, rejected=tuple(failed))
            raise _rejected(again)
        if recorded.existing:  # a retry of a cart redeemed before: its answer, as it was
            stored = await redeemer.store.cart(cart_id, now=now)
            if stored is not None:
                return RedeemedCart(stored, orjson.loads(stored.summary))
        numbered = tuple(usage.numbered(use) for usage, use in zip(cart.usages, recorded.uses, strict=True))
        state = CartState.HELD if held else CartState.USED
        return RedeemedCart(StoredCart(cart_id, request.user, state, now, hold_until, cart.summary, numbered), summary)

    async def confirm(self, principal: Principal, cart_id: str) -> StoredCart:
        """A held cart becomes used, all its codes at once; again: the same answer; after its end: 410."""
        cart = await self._cart_of(principal, cart_id)
        now = self.redeemer.clock()
        if cart.known_to_store:
            changed = await self.redeemer.store.confirm_cart(cart_id, now=now)
            if changed.change in (Change.DONE, Change.ALREADY) and changed.cart is not None:
                return changed.cart
            if changed.change is Change.EXPIRED:
                raise HoldExpired(f"the hold of cart {cart_id} ended before it was confirmed")
            raise CartNotFound(f"no cart {cart_id}")
        # Forgotten by the store (long after its hold): only a used cart confirms again.
        if any(usage.status is Status.USED for usage in cart.stored.usages):
            return cart.stored
        if any(usage.status is Status.HELD for usage in cart.stored.usages):
            raise HoldExpired(f"the hold of cart {cart_id} ended before it was confirmed")
        raise CartNotFound(f"no cart {cart_id}")

    async def give_back(self, principal: Principal, cart_id: str) -> None:
        """Release a held cart, or roll back a used one: every usage of it still live comes back."""
        cart = await self._cart_of(principal, cart_id)
        redeemer = self.redeemer
        now = redeemer.clock()
        if cart.known_to_store:
            changed = await redeemer.store.give_back_cart(cart_id, now=now)
            if changed.change is not Change.DONE:
                raise CartNotFound(f"no cart {cart_id}, or it was given back already")
            return
        given = False
        for usage in cart.stored.usages:
            if usage.is_active(now):
                given |= await redeemer.give_back_usage(usage, now) is not None
        if not given:
            raise CartNotFound(f"no cart {cart_id}, or it was given back already")

    async def _cart_of(self, principal: Principal, cart_id: str) -> _Found:
        """The cart, if the caller may act on it: its user or the marketplace's service (a brand: 403)."""
        if principal.role is Role.brand:
            raise Forbidden("brands cannot confirm or give back a shopper's cart")
        principal.require(Role.user, Role.service)
        stored = await self.redeemer.store.cart(cart_id, now=self.redeemer.clock())
        known = stored is not None
        if stored is None and self.ledger is not None:
            stored = await self.ledger(cart_id)
        if stored is None or (principal.role is Role.user and principal.sub != stored.user):
            raise CartNotFound(f"no cart {cart_id}")  # someone else's: not even its existence is told
        return _Found(stored, known)

    async def _admit(
        self, refs: Sequence[str], user: str, now: datetime
    ) -> tuple[dict[str, CodeTerms], dict[str, Rejection]]:
        """The codes found and admitted (not expired, in the group, started), and the others' reasons."""
        redeemer = self.redeemer
        looked_up: list[CodeTerms | BaseException | None] = [redeemer.codes.fresh(ref) for ref in refs]
        missing = [i for i, code in enumerate(looked_up) if code is None]
        if missing:  # read together: the cache reads the misses of one turn of the loop in one query
            read = await asyncio.gather(*(redeemer.codes.get(refs[i]) for i in missing), return_exceptions=True)
            for i, answer in zip(missing, read, strict=True):
                looked_up[i] = answer
        found: dict[str, CodeTerms] = {}
        refused: dict[str, Rejection] = {}
        for ref, code in zip(refs, looked_up, strict=True):
            if isinstance(code, BaseException) and not isinstance(code, CodeNotFound):
                raise code  # a store that cannot be reached: the whole request is a 503
            if not isinstance(code, CodeTerms) or code.id != ref:  # a cart names codes by their strings, not hashes
                refused[ref] = _rejection(CodeNotFound(f"no code {ref!r}"), ref)
                continue
            try:
                if code.rule.group is None:
                    admit_anyone(code, now)
                else:
                    await redeemer.admit(code, user, now)
            except DiscountsError as refusal_:
                refused[ref] = _rejection(refusal_, ref)
            else:
                found[ref] = code
        return found, refused

    async def _priced(
        self,
        request: CartIn,
        lines: tuple[Line, ...],
        found: dict[str, CodeTerms],
        refused: dict[str, Rejection],
        now: datetime,
    ) -> CartQuote:
        """Price, ask the store about what applies, drop what it refuses and price again until none is.

        A code the store refuses for this user or for good stays refused whatever else is
        dropped; dropping codes only ever leaves more to the ones after them, so a budget that
        refused a discount still refuses the larger one. Every round drops a code, or ends.
        """
        order = _in_application_order(request.codes, found)
        by_store: dict[str, Rejection] = {}
        while True:
            codes = [offer for offer in order if offer.code not in by_store]
            price = price_cart(lines, codes, request.currency)
            answers = await asyncio.gather(
                *(self._dry_run(found[a.code.code], a, request, price, now) for a in price.applied)
            )
            newly = {a.code.code: why for a, why in zip(price.applied, answers, strict=True) if why is not None}
            if not newly:
                break
            by_store.update(newly)
        for refused_code in price.refused:
            refused[refused_code.code.code] = _pricing_rejection(refused_code, found[refused_code.code.code], request)
        refused.update(by_store)
        rejected = tuple(refused[ref] for ref in request.codes if ref in refused)
        return CartQuote(request.user, request.currency, price, found, rejected)

    async def _dry_run(
        self, code: CodeTerms, applied: Applied, request: CartIn, price: CartPrice, now: datetime
    ) -> Rejection | None:
        redeemer = self.redeemer
        usage = self._usage(code, applied, request, from_cents(price.amount), now, None, False, None)
        recorded = await redeemer.store.record(
            usage,
            expires_at=usage_expiry(code, redeemer.grace),
            limits=limits_of(code.rule, applied.discount),
            dry_run=True,
        )
        return None if recorded else _rejection(refusal(recorded.outcome, code, request.user), code.id)

    @staticmethod
    def _usage(
        code: CodeTerms,
        applied: Applied,
        request: CartIn,
        amount: Decimal,
        now: datetime,
        cart_id: str | None,
        held: bool,
        hold_until: datetime | None,
    ) -> Usage:
        """One code's usage of the cart: the whole order's ``amount``, this code's discount and allocations."""
        rule = code.rule
        discount = from_cents(applied.discount)
        return Usage(
            code=code.id,
            user=request.user,
            brand=rule.brand,
            discount=rule.discount,
            amount=amount,
            discount_amount=discount,
            amount_to_pay=amount - discount,
            used_at=now,
            amount_off=rule.amount_off,
            currency=rule.currency or request.currency,
            status=Status.HELD if held else Status.USED,
            hold_until=hold_until if held else None,
            cart=cart_id,
            allocations=applied.allocations,
        )


@dataclass(frozen=True, slots=True)
class _Found:
    stored: StoredCart
    #: The store still keeps it (else it came from the ledger, long after its hold).
    known_to_store: bool


def _check_user(principal: Principal, user: str) -> None:
    principal.require(Role.user)
    if user != principal.sub:
        raise UserMismatch(f"this token acts for user {principal.sub!r}, not {user!r}")


def _in_application_order(refs: Sequence[str], found: dict[str, CodeTerms]) -> list[CodeOffer]:
    """The found codes' offers by ascending priority, ties in the order the request named them."""
    return application_order([found[ref].pricing for ref in refs if ref in found])


def _rejection(error: DiscountsError, code: str) -> Rejection:
    return Rejection(code, error.code, error.detail)


def _pricing_rejection(refused: Refused, code: CodeTerms, request: CartIn) -> Rejection:
    """The reason pricing gave, with the words a single redemption would use for it."""
    if refused.reason == NOT_APPLICABLE:
        detail = f"code {code.id} applies to none of the cart's lines that have an amount left"
        return Rejection(code.id, NOT_APPLICABLE, detail)
    if refused.reason == COMBINATION_DISALLOWED:
        detail = f"code {code.id} shares lines with an earlier code of {code.brand}, and they are not both stackable"
        return Rejection(code.id, COMBINATION_DISALLOWED, detail)
    try:
        if refused.reason == CURRENCY_MISMATCH:
            check_currency(code, request.currency)
        check_minimum(code, refused.eligible)
    except (CurrencyMismatch, MinAmountNotMet) as error:
        return _rejection(error, code.id)
    raise AssertionError(f"pricing refused {code.id} for an unknown reason {refused.reason!r}")


def _rejected(quote: CartQuote) -> CartRejected:
    names = ", ".join(f"{r.code} ({r.reason})" for r in quote.rejected)
    detail = f"the cart is redeemed all or nothing, and would refuse {names}"
    return CartRejected(detail, [r.body() for r in quote.rejected])
