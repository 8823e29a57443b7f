"""Money arithmetic, pure: half-up rounding, carts discounted on one brand's lines only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discounts.money import Line, discount_of, format_money, price_amount, price_cart, quantize

MAX = Decimal("999999999999.99")

cents = st.integers(min_value=0, max_value=int(MAX * 100)).map(lambda c: Decimal(c) / 100)
percents = st.integers(min_value=1, max_value=99)
brands = st.sampled_from(["acme", "other", "third"])
lines = st.builds(
    Line,
    brand=brands,
    price=st.integers(min_value=0, max_value=10_000_000).map(lambda c: Decimal(c) / 100),
    quantity=st.integers(min_value=1, max_value=1000),
)


def places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


@pytest.mark.parametrize(
    ("amount", "percent", "discount"),
    [
        ("0.25", 10, "0.03"),  # 0.025: half-up gives 0.03 where banker's rounding would give 0.02
        ("0.05", 10, "0.01"),  # 0.005
        ("0.15", 50, "0.08"),  # 0.075
        ("0.04", 10, "0.00"),  # 0.004
        ("120.00", 10, "12.00"),
        ("19.99", 15, "3.00"),  # 2.9985
        ("33.33", 33, "11.00"),  # 10.9989
    ],
)
def test_discount_is_rounded_half_up_to_the_cent(amount: str, percent: int, discount: str) -> None:
    assert discount_of(Decimal(amount), percent) == Decimal(discount)


def test_whole_order_is_discounted() -> None:
    priced = price_amount(Decimal("120"), 10)
    assert (priced.amount, priced.discount_amount, priced.amount_to_pay) == (
        Decimal("120.00"),
        Decimal("12.00"),
        Decimal("108.00"),
    )
    assert format_money(priced.amount) == "120.00"


def test_cart_discounts_only_the_codes_brand() -> None:
    """The API.md example: 10% of acme's 100.00, nothing off the other brand's 20.00."""
    cart = [Line("acme", Decimal("50.00"), 2), Line("other", Decimal("20.00"), 1)]
    priced = price_cart(cart, "acme", 10)
    assert [format_money(v) for v in (priced.amount, priced.discount_amount, priced.amount_to_pay)] == [
        "120.00",
        "10.00",
        "110.00",
    ]


def test_cart_without_the_brand_gets_no_discount() -> None:
    priced = price_cart([Line("other", Decimal("9.99"), 3)], "acme", 50)
    assert priced.discount_amount == Decimal("0.00")
    assert priced.amount_to_pay == priced.amount == Decimal("29.97")


def test_cart_rounds_once_at_the_end() -> None:
    """Three lines of 0.05 at 10%: 0.015 rounds to 0.02, where rounding each line would give 0.03."""
    cart = [Line("acme", Decimal("0.05"), 1)] * 3
    assert price_cart(cart, "acme", 10).discount_amount == Decimal("0.02")


@pytest.mark.parametrize(("value", "text"), [("5", "5.00"), ("0", "0.00"), ("1.5", "1.50"), ("0.005", "0.01")])
def test_money_is_written_with_two_places(value: str, text: str) -> None:
    assert format_money(Decimal(value)) == text
    assert quantize(Decimal(value)) == Decimal(text)


@given(amount=cents, percent=percents)
def test_whole_order_properties(amount: Decimal, percent: int) -> None:
    priced = price_amount(amount, percent)
    assert Decimal(0) <= priced.discount_amount <= priced.amount
    assert priced.amount_to_pay + priced.discount_amount == priced.amount == amount
    assert places(priced.amount) == places(priced.discount_amount) == places(priced.amount_to_pay) == 2


@given(cart=st.lists(lines, min_size=1, max_size=20), brand=brands, percent=percents)
def test_cart_properties(cart: list[Line], brand: str, percent: int) -> None:
    priced = price_cart(cart, brand, percent)
    eligible = sum((line.price * line.quantity for line in cart if line.brand == brand), Decimal(0))
    total = sum((line.price * line.quantity for line in cart), Decimal(0))
    assert Decimal(0) <= priced.discount_amount <= eligible
    assert priced.amount == total
    assert priced.amount_to_pay + priced.discount_amount == priced.amount
    assert places(priced.amount) == places(priced.discount_amount) == places(priced.amount_to_pay) == 2
    assert abs(priced.discount_amount - eligible * percent / 100) <= Decimal("0.005")
