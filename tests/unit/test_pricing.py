"""The cart's arithmetic, pure: largest-remainder allocation, compounding, targeting, the published vectors."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discounts.money import format_cents, to_cents
from discounts.pricing.allocation import allocate
from discounts.pricing.cart import CodeOffer, Line, Target, application_order, price_cart, price_lines
from discounts.pricing.offers import AmountOff, Offer, PercentOff, kind_errors, offer_of

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "pricing-vectors.json"
MAX_CENTS = 99_999_999_999_999

# -- allocation -------------------------------------------------------------------------------

weights = st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=50)


@given(data=st.data(), parts=weights)
def test_allocations_sum_exactly_and_each_is_within_a_cent_of_its_share(data: st.DataObject, parts: list[int]) -> None:
    total = data.draw(st.integers(min_value=0, max_value=sum(parts)))
    allocated = allocate(total, parts)

    assert sum(allocated) == total
    whole = sum(parts)
    for part, weight in zip(allocated, parts, strict=True):
        exact = Fraction(total * weight, whole) if whole else Fraction(0)
        assert abs(part - exact) < 1
        assert 0 <= part <= weight


@given(parts=weights)
def test_ties_go_to_the_earlier_line(parts: list[int]) -> None:
    equal = [max(parts[0], 1)] * 3
    allocated = allocate(sum(equal) // 3 + 1, equal)  # one cent more than a third of each: two cents to place
    assert allocated == sorted(allocated, reverse=True)


@pytest.mark.parametrize(
    ("total", "parts", "expected"),
    [
        (1000, [1000, 1000, 1000], [334, 333, 333]),  # statamic-cargo #168: 1000 over 3 became 999
        (151, [100, 100, 101], [50, 50, 51]),  # the cent goes to the largest remainder, not the first line
        (2, [5, 5, 5], [1, 1, 0]),
        (0, [5, 0], [0, 0]),
        (7, [0, 7], [0, 7]),
    ],
)
def test_allocation_cases(total: int, parts: list[int], expected: list[int]) -> None:
    assert allocate(total, parts) == expected


def test_more_than_the_lines_are_worth_cannot_be_allocated() -> None:
    with pytest.raises(ValueError):
        allocate(11, [5, 5])


# -- offers -----------------------------------------------------------------------------------


def half_up(eligible_cents: int, percent: int) -> int:
    """The discount as a person writes it: the percent of the amount, rounded half-up to the cent."""
    exact = Decimal(eligible_cents) / 100 * percent / 100
    return int(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)


@given(eligible=st.integers(min_value=0, max_value=MAX_CENTS), percent=st.integers(min_value=1, max_value=99))
def test_a_percent_is_rounded_half_up_once(eligible: int, percent: int) -> None:
    assert PercentOff(percent).discount(eligible) == half_up(eligible, percent)


@given(eligible=st.integers(min_value=0, max_value=MAX_CENTS), amount=st.integers(min_value=1, max_value=MAX_CENTS))
def test_a_fixed_amount_is_never_more_than_the_eligible_amount(eligible: int, amount: int) -> None:
    offer = AmountOff(Decimal(amount) / 100, "EUR")
    assert offer.discount(eligible) == min(amount, eligible)


def test_a_rule_is_one_kind_exactly() -> None:
    assert offer_of(10, None, None) == PercentOff(10)
    assert offer_of(None, Decimal("5.00"), "EUR") == AmountOff(Decimal("5.00"), "EUR")
    assert offer_of(10, None, "EUR").fields() == {"discount": 10}  # a percent rule's currency is the order's
    for columns in ((None, None, None), (10, Decimal(5), "EUR"), (None, Decimal(5), None)):
        with pytest.raises(ValueError):
            offer_of(*columns)
    assert kind_errors(None, None, None)[0][0] == "discount"
    assert kind_errors(10, Decimal(5), "EUR")[0][0] == "amount_off"
    assert kind_errors(None, Decimal(5), None)[0][0] == "currency"
    assert kind_errors(10, None, None) == []


# -- carts ------------------------------------------------------------------------------------

brands = st.sampled_from(["acme", "bolt"])
products = st.sampled_from(["sku-1", "sku-2", "sku-3"])
offers: st.SearchStrategy[Offer] = st.one_of(
    st.builds(PercentOff, st.integers(min_value=1, max_value=99)),
    st.builds(AmountOff, st.integers(min_value=1, max_value=100_000).map(lambda c: Decimal(c) / 100), st.just("EUR")),
)


@st.composite
def carts(draw: st.DrawFn) -> list[Line]:
    count = draw(st.integers(min_value=1, max_value=12))
    return [
        Line(
            str(index),
            draw(brands),
            draw(st.integers(min_value=0, max_value=10**7)) * draw(st.integers(min_value=1, max_value=5)),
            draw(products),
            frozenset(draw(st.sets(st.sampled_from(["shoes", "hats", "sale"]), max_size=2))),
        )
        for index in range(count)
    ]


@st.composite
def code_offers(draw: st.DrawFn) -> list[CodeOffer]:
    count = draw(st.integers(min_value=1, max_value=6))
    codes = []
    for index in range(count):
        narrowed = draw(st.booleans())
        target = Target(
            draw(brands),
            frozenset(draw(st.sets(products, min_size=1))) if narrowed else None,
            frozenset(draw(st.sets(st.sampled_from(["shoes", "sale"]), min_size=1))) if narrowed else None,
        )
        codes.append(
            CodeOffer(
                f"C{index}",
                draw(offers),
                target,
                stackable=draw(st.booleans()),
                priority=draw(st.integers(min_value=0, max_value=3)),
            )
        )
    return codes


@given(lines=carts(), codes=code_offers())
def test_every_code_allocates_exactly_its_discount_and_no_line_goes_below_zero(
    lines: list[Line], codes: list[CodeOffer]
) -> None:
    priced = price_cart(lines, application_order(codes), "EUR")

    taken = priced.discount_by_line()
    for line in lines:
        assert 0 <= taken[line.id] <= line.subtotal
    for applied in priced.applied:
        assert sum(cents for _, cents in applied.allocations) == applied.discount
        assert all(cents > 0 for _, cents in applied.allocations)
        allocated_to = {line for line, _ in applied.allocations}
        assert allocated_to <= applied.targeted
        assert all(
            next(line for line in lines if line.id == i).brand == applied.code.target.brand for i in allocated_to
        )
    assert priced.discount == sum(taken.values()) <= priced.amount == sum(line.subtotal for line in lines)
    assert len(priced.applied) + len(priced.refused) == len(codes)


@given(lines=carts(), codes=code_offers())
def test_the_order_of_application_is_deterministic(lines: list[Line], codes: list[CodeOffer]) -> None:
    """Priorities order the codes; the request's order breaks ties; so the same cart prices the same."""
    once = price_cart(lines, application_order(codes), "EUR")
    again = price_cart(lines, application_order(list(codes)), "EUR")
    assert once == again
    priorities = [applied.code.priority for applied in once.applied]
    assert priorities == sorted(priorities)
    distinct = [c for i, c in enumerate(codes) if all(c.priority != d.priority for d in codes[:i])]
    shuffled = list(reversed(distinct))
    assert price_cart(lines, application_order(shuffled), "EUR") == price_cart(
        lines, application_order(distinct), "EUR"
    )


@given(lines=carts(), offer=offers, brand=brands)
def test_a_single_code_cart_gives_exactly_a_single_redemptions_discount(
    lines: list[Line], offer: Offer, brand: str
) -> None:
    """Part 1's discount: the offer on the brand's lines together, rounded once."""
    eligible = sum(line.subtotal for line in lines if line.brand == brand)
    code = CodeOffer("ONE", offer, Target(brand))

    priced = price_cart(lines, [code], "EUR")

    expected = (
        half_up(eligible, offer.percent) if isinstance(offer, PercentOff) else min(to_cents(offer.amount), eligible)
    )
    single = price_lines(lines, offer, Target(brand))
    assert single.discount == expected
    if eligible:
        assert [applied.discount for applied in priced.applied] == [expected]
    else:
        assert [refused.reason for refused in priced.refused] == ["not_applicable"]


@given(lines=carts(), codes=code_offers())
def test_percentages_compound_on_what_is_left(lines: list[Line], codes: list[CodeOffer]) -> None:
    """Each code's discount is its offer on what the codes before it left of its lines."""
    priced = price_cart(lines, application_order(codes), "EUR")
    left = {line.id: line.subtotal for line in lines}
    for applied in priced.applied:
        eligible = sum(left[line] for line in applied.targeted)
        assert applied.eligible == eligible
        assert applied.discount == applied.code.offer.discount(eligible)
        for line, cents in applied.allocations:
            left[line] -= cents


# -- the published vectors ---------------------------------------------------------------------


def cents_of(text: str) -> int:
    return to_cents(Decimal(text))


def code_of(raw: dict[str, Any]) -> CodeOffer:
    amount_off = None if "amount_off" not in raw else Decimal(raw["amount_off"])
    products_ = raw.get("products")
    categories = raw.get("categories")
    return CodeOffer(
        raw["code"],
        offer_of(raw.get("discount"), amount_off, raw.get("currency")),
        Target(
            raw["brand"],
            None if products_ is None else frozenset(products_),
            None if categories is None else frozenset(categories),
        ),
        stackable=raw.get("stackable", False),
        priority=raw.get("priority", 100),
        min_amount=None if "min_amount" not in raw else cents_of(raw["min_amount"]),
        currency=raw.get("currency") if "amount_off" in raw else None,
    )


def priced_answer(case: dict[str, Any]) -> dict[str, Any]:
    """What the pricing makes of a vector's inputs, written as the vectors (and the API) write it."""
    lines = [
        Line(
            raw["id"],
            raw["brand"],
            cents_of(raw["price"]) * raw["quantity"],
            raw.get("product"),
            frozenset(raw.get("categories", [])),
        )
        for raw in case["lines"]
    ]
    codes = [code_of(raw) for raw in case["codes"]]
    priced = price_cart(lines, application_order(codes), case["currency"])
    taken = priced.discount_by_line()
    refused = {r.code.code: r.reason for r in priced.refused}
    return {
        "applied": [
            {
                "code": applied.code.code,
                "discount_amount": format_cents(applied.discount),
                "allocations": [{"line": line, "amount": format_cents(cents)} for line, cents in applied.allocations],
            }
            for applied in priced.applied
        ],
        "rejected": [{"code": c.code, "reason": refused[c.code]} for c in codes if c.code in refused],
        "lines": [
            {
                "id": line.id,
                "subtotal": format_cents(line.subtotal),
                "discount": format_cents(taken[line.id]),
                "total": format_cents(line.subtotal - taken[line.id]),
            }
            for line in lines
        ],
        "amount": format_cents(priced.amount),
        "discount_amount": format_cents(priced.discount),
        "amount_to_pay": format_cents(priced.amount - priced.discount),
    }


CASES = json.loads(VECTORS.read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"][:60] for case in CASES])
def test_the_published_vectors(case: dict[str, Any]) -> None:
    assert priced_answer(case) == case["expected"]


def test_the_vectors_cover_what_the_contract_pins() -> None:
    reasons = {r["reason"] for case in CASES for r in case["expected"]["rejected"]}
    assert reasons == {"not_applicable", "combination_disallowed", "min_amount_not_met", "currency_mismatch"}
    assert len(CASES) >= 10
