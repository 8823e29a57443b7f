"""A cart priced line by line: several codes applied one after another, each on what the others left.

The rules of API.md part 3 as plain arithmetic on integer cents: a code applies to its
brand's lines that match its targeting; it is checked (applicable? combinable? currency,
minimum) against the cart *as the codes before it left it*; its discount is computed once on
its eligible amount, then split over those lines by largest remainder; percentages therefore
compound and a fixed amount never takes more than is left. A refused code changes nothing.
Decisions that need the store (used before, exhausted) are not made here: the caller drops
such a code and prices the rest again (``price_cart`` with the codes that remain).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from discounts.pricing.allocation import allocate
from discounts.pricing.offers import Offer

#: Why a code is refused, as the API's problem codes name it (the pricing part of the order).
NOT_APPLICABLE = "not_applicable"
COMBINATION_DISALLOWED = "combination_disallowed"
CURRENCY_MISMATCH = "currency_mismatch"
MIN_AMOUNT_NOT_MET = "min_amount_not_met"


@dataclass(frozen=True, slots=True)
class Line:
    """A cart line: ``subtotal`` is price × quantity, in cents."""

    id: str
    brand: str
    subtotal: int
    product: str | None = None
    categories: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Target:
    """Which lines a rule applies to: its brand's, narrowed to ``products`` or ``categories`` when set."""

    brand: str
    products: frozenset[str] | None = None
    categories: frozenset[str] | None = None

    @property
    def narrowed(self) -> bool:
        return self.products is not None or self.categories is not None

    def pick(self, lines: Sequence[Line]) -> list[int]:
        """The positions of the lines it matches."""
        if not self.narrowed:
            brand = self.brand
            return [i for i, line in enumerate(lines) if line.brand == brand]
        return [i for i, line in enumerate(lines) if self.matches(line)]

    def matches(self, line: Line) -> bool:
        """Its brand's line, and (when narrowed) one of its products or with one of its categories."""
        if line.brand != self.brand:
            return False
        if not self.narrowed:
            return True
        if self.products is not None and line.product in self.products:
            return True
        return self.categories is not None and not self.categories.isdisjoint(line.categories)


@dataclass(frozen=True, slots=True)
class CodeOffer:
    """What pricing needs of a code: its offer, its lines, how it combines, its minimum and currency."""

    code: str
    offer: Offer
    target: Target
    stackable: bool = False
    priority: int = 100
    #: The eligible amount must be at least this (cents), if set.
    min_amount: int | None = None
    #: The rule's currency: the order's must match it, if set.
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    """A code as applied: its eligible amount as the cart stood, its discount, and where it landed."""

    code: CodeOffer
    eligible: int
    discount: int
    #: (line id, cents), in the cart's order; lines that got nothing are left out.
    allocations: tuple[tuple[str, int], ...]
    #: Every line its target matched (what a later code of its brand may not share unless both stack).
    targeted: frozenset[str]


@dataclass(frozen=True, slots=True)
class Refused:
    code: CodeOffer
    reason: str
    #: Its eligible amount as the cart stood when it came (what a minimum was compared with).
    eligible: int


@dataclass(frozen=True, slots=True)
class CartPrice:
    lines: tuple[Line, ...]
    applied: tuple[Applied, ...]
    refused: tuple[Refused, ...]

    @property
    def amount(self) -> int:
        return sum(line.subtotal for line in self.lines)

    @property
    def discount(self) -> int:
        return sum(applied.discount for applied in self.applied)

    def discount_by_line(self) -> dict[str, int]:
        taken = dict.fromkeys((line.id for line in self.lines), 0)
        for applied in self.applied:
            for line, cents in applied.allocations:
                taken[line] += cents
        return taken


def application_order(codes: Sequence[CodeOffer]) -> list[CodeOffer]:
    """Ascending priority; equal priorities in the order the request named them (the sort is stable)."""
    return sorted(codes, key=lambda code: code.priority)


def price_lines(lines: Sequence[Line], offer: Offer, target: Target, left: Sequence[int] | None = None) -> Applied:
    """One code on ``lines`` (each worth ``left`` cents if given, else its subtotal): no check refuses it."""
    amounts = [line.subtotal for line in lines] if left is None else left
    picked = target.pick(lines)
    eligible = sum(amounts[i] for i in picked)
    applied, _ = _applied(CodeOffer("", offer, target), [lines[i].id for i in picked], amounts, picked, eligible)
    return applied


def price_cart(lines: Sequence[Line], codes: Iterable[CodeOffer], currency: str | None) -> CartPrice:
    """Apply ``codes`` in the order given (see :func:`application_order`), each on what the earlier left."""
    left = [line.subtotal for line in lines]
    applied: list[Applied] = []
    refused: list[Refused] = []
    for code in codes:
        picked = code.target.pick(lines)
        eligible = sum([left[i] for i in picked])
        ids = [lines[i].id for i in picked]
        reason = _refusal(code, ids, eligible, applied, currency)
        if reason is not None:
            refused.append(Refused(code, reason, eligible))
            continue
        priced, parts = _applied(code, ids, left, picked, eligible)
        for i, cents in zip(picked, parts, strict=True):
            left[i] -= cents
        applied.append(priced)
    return CartPrice(tuple(lines), tuple(applied), tuple(refused))


def _applied(
    code: CodeOffer, ids: Sequence[str], amounts: Sequence[int], picked: Sequence[int], eligible: int
) -> tuple[Applied, list[int]]:
    """The code applied to its ``picked`` lines (``ids``) worth ``amounts``, and each of those lines' part in cents."""
    discount = code.offer.discount(eligible)
    parts = allocate(discount, [amounts[i] for i in picked])
    allocations = tuple([(line, cents) for line, cents in zip(ids, parts, strict=True) if cents])
    return Applied(code, eligible, discount, allocations, frozenset(ids)), parts


def _refusal(
    code: CodeOffer,
    ids: Sequence[str],
    eligible: int,
    applied: Sequence[Applied],
    currency: str | None,
) -> str | None:
    """The first of the pricing reasons, in the contract's order, that refuses ``code``; None if none does."""
    if eligible == 0:  # no targeted line has any amount left (amounts are never negative)
        return NOT_APPLICABLE
    brand = code.target.brand
    for before in applied:
        exclusive = before.code.target.brand == brand and not (before.code.stackable and code.stackable)
        if exclusive and not before.targeted.isdisjoint(ids):
            return COMBINATION_DISALLOWED
    if code.currency is not None and currency != code.currency:
        return CURRENCY_MISMATCH
    if code.min_amount is not None and eligible < code.min_amount:
        return MIN_AMOUNT_NOT_MET
    return None
