"""Money at the edges: two places in and out, whole cents inside."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discounts.money import format_cents, format_money, from_cents, quantize, to_cents

MAX = Decimal("999999999999.99")
cents = st.integers(min_value=0, max_value=int(MAX * 100))


@pytest.mark.parametrize(("value", "text"), [("5", "5.00"), ("0", "0.00"), ("1.5", "1.50"), ("0.005", "0.01")])
def test_money_is_written_with_two_places(value: str, text: str) -> None:
    assert format_money(Decimal(value)) == text
    assert quantize(Decimal(value)) == Decimal(text)


@given(amount=cents)
def test_cents_and_money_convert_exactly_both_ways(amount: int) -> None:
    money = from_cents(amount)
    assert to_cents(money) == amount
    assert format_money(money) == format_cents(amount)
    assert money * 100 == amount


@given(value=st.decimals(min_value=0, max_value=MAX, places=4))
def test_cents_of_an_amount_with_more_places_round_half_up(value: Decimal) -> None:
    quantized = quantize(value)
    assert to_cents(quantized) == quantized * 100 == to_cents(value)


@pytest.mark.parametrize(("cents_", "text"), [(0, "0.00"), (5, "0.05"), (123456, "1234.56"), (-100, "-1.00")])
def test_cents_are_written_as_the_api_writes_money(cents_: int, text: str) -> None:
    assert format_cents(cents_) == text
