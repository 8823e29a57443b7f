"""Money arithmetic, pure: half-up rounding, carts discounted on one brand's lines only."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discounts.money import (
    Line,
    Offer,
    discount_of,
    discount_on,
    format_money,
    price_amount,
    price_cart,
    quantize,
    to_cents,
)

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
    priced = price_amount(Decimal("120"), Offer(percent=10))
    assert (priced.amount, priced.discount_amount, priced.amount_to_pay) == (
        Decimal("120.00"),
        Decimal("12.00"),
        Decimal("108.00"),
    )
    assert format_money(priced.amount) == "120.00"


def test_cart_discounts_only_the_codes_brand() -> None:
    """The API.md example: 10% of acme's 100.00, nothing off the other brand's 20.00."""
    cart = [Line("acme", Decimal("50.00"), 2), Line("other", Decimal("20.00"), 1)]
    priced = price_cart(cart, "acme", Offer(percent=10))
    assert [format_money(v) for v in (priced.amount, priced.discount_amount, priced.amount_to_pay)] == [
        "120.00",
        "10.00",
        "110.00",
    ]


def test_cart_without_the_brand_gets_no_discount() -> None:
    priced = price_cart([Line("other", Decimal("9.99"), 3)], "acme", Offer(percent=50))
    assert priced.discount_amount == Decimal("0.00")
    assert priced.amount_to_pay == priced.amount == Decimal("29.97")


def test_cart_rounds_once_at_the_end() -> None:
    """Three lines of 0.05 at 10%: 0.015 rounds to 0.02, where rounding each line would give 0.03."""
    cart = [Line("acme", Decimal("0.05"), 1)] * 3
    assert price_cart(cart, "acme", Offer(percent=10)).discount_amount == Decimal("0.02")


@pytest.mark.parametrize(("value", "text"), [("5", "5.00"), ("0", "0.00"), ("1.5", "1.50"), ("0.005", "0.01")])
def test_money_is_written_with_two_places(value: str, text: str) -> None:
    assert format_money(Decimal(value)) == text
    assert quantize(Decimal(value)) == Decimal(text)


@given(amount=cents, percent=percents)
def test_whole_order_properties(amount: Decimal, percent: int) -> None:
    priced = price_amount(amount, Offer(percent=percent))
    assert Decimal(0) <= priced.discount_amount <= priced.amount
    assert priced.amount_to_pay + priced.discount_amount == priced.amount == amount
    assert places(priced.amount) == places(priced.discount_amount) == places(priced.amount_to_pay) == 2


@given(cart=st.lists(lines, min_size=1, max_size=20), brand=brands, percent=percents)
def test_cart_properties(cart: list[Line], brand: str, percent: int) -> None:
    priced = price_cart(cart, brand, Offer(percent=percent))
    eligible = sum((line.price * line.quantity for line in cart if line.brand == brand), Decimal(0))
    total = sum((line.price * line.quantity for line in cart), Decimal(0))
    assert Decimal(0) <= priced.discount_amount <= eligible
    assert priced.amount == total
    assert priced.amount_to_pay + priced.discount_amount == priced.amount
    assert places(priced.amount) == places(priced.discount_amount) == places(priced.amount_to_pay) == 2
    assert abs(priced.discount_amount - eligible * percent / 100) <= Decimal("0.005")


# Properties for both kinds of offer, over the whole range of amounts the API accepts.

MAX_CENTS = int(MAX * 100)
positive_cents = st.integers(min_value=1, max_value=MAX_CENTS).map(lambda c: Decimal(c) / 100)
offers = st.one_of(
    st.builds(Offer, percent=percents),
    st.builds(Offer, amount_off=positive_cents),
    st.builds(Offer, amount_off=st.sampled_from([Decimal("0.01"), Decimal("5"), Decimal("5.00"), MAX])),
)


@st.composite
def carts(draw: st.DrawFn) -> list[Line]:
    """Up to 20 lines of prices with at most two places, whose total is at most ``MAX``."""
    left = MAX_CENTS
    cart = []
    for _ in range(draw(st.integers(min_value=1, max_value=20))):
        quantity = draw(st.integers(min_value=1, max_value=max(1, min(1000, left))))
        price = draw(st.integers(min_value=0, max_value=left // quantity))
        left -= price * quantity
        cart.append(Line(draw(brands), Decimal(price) / 100, quantity))
    return cart


def expected_discount(eligible: Decimal, offer: Offer) -> Decimal:
    """The discount worked out in whole cents with integers: half-up is ``(x + 50) // 100`` for x >= 0."""
    eligible_cents = int(eligible * 100)
    assert eligible_cents == eligible * 100
    if offer.percent is not None:
        return Decimal((eligible_cents * offer.percent + 50) // 100) / 100
    assert offer.amount_off is not None
    return min(offer.amount_off, eligible)


def assert_discount(discount: Decimal, eligible: Decimal, offer: Offer) -> None:
    assert Decimal(0) <= discount <= eligible
    assert places(discount) == 2
    assert discount == expected_discount(eligible, offer)
    if offer.percent is not None:
        assert discount == (eligible * offer.percent / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    else:
        assert discount == min(offer.amount_off, eligible)  # type: ignore[type-var]


@given(amount=cents, offer=offers)
def test_an_offer_on_a_whole_order(amount: Decimal, offer: Offer) -> None:
    priced = price_amount(amount, offer)
    assert priced.amount == priced.eligible == amount
    assert_discount(priced.discount_amount, amount, offer)
    assert priced.amount_to_pay == amount - priced.discount_amount >= 0
    assert places(priced.amount) == places(priced.amount_to_pay) == 2


@given(cart=carts(), brand=brands, offer=offers)
def test_an_offer_on_a_cart(cart: list[Line], brand: str, offer: Offer) -> None:
    priced = price_cart(cart, brand, offer)
    eligible = sum((line.price * line.quantity for line in cart if line.brand == brand), Decimal(0))
    total = sum((line.price * line.quantity for line in cart), Decimal(0))
    assert total <= MAX
    assert (priced.amount, priced.eligible) == (total, eligible)
    assert_discount(priced.discount_amount, eligible, offer)
    assert priced.amount_to_pay == total - priced.discount_amount
    assert priced.amount_to_pay >= total - eligible >= 0
    assert places(priced.amount) == places(priced.eligible) == places(priced.amount_to_pay) == 2


@given(eligible=cents, offer=offers)
def test_discount_on_is_what_pricing_gives(eligible: Decimal, offer: Offer) -> None:
    assert_discount(discount_on(eligible, offer), eligible, offer)
    assert discount_on(eligible, offer) == price_amount(eligible, offer).discount_amount


@given(amount=positive_cents)
def test_a_fixed_amount_of_the_whole_order_or_more_makes_it_free(amount: Decimal) -> None:
    for amount_off in (amount, amount + Decimal("0.01"), MAX):
        priced = price_amount(amount, Offer(amount_off=amount_off))
        assert priced.discount_amount == amount
        assert priced.amount_to_pay == Decimal("0.00")


@given(value=cents)
def test_cents_are_a_hundred_times_the_amount(value: Decimal) -> None:
    assert to_cents(value) == value * 100
    assert isinstance(to_cents(value), int)


@given(value=st.decimals(min_value=0, max_value=MAX, places=4))
def test_cents_of_a_quantized_amount(value: Decimal) -> None:
    quantized = quantize(value)
    assert places(quantized) == 2
    assert to_cents(quantized) == quantized * 100 == to_cents(value)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"percent": None, "amount_off": None}, {"percent": 10, "amount_off": Decimal("5.00")}],
)
def test_an_offer_is_a_percent_or_an_amount_off(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Offer(**kwargs)  # type: ignore[arg-type]


@given(percent=percents, amount_off=cents)
def test_an_offer_is_never_both(percent: int, amount_off: Decimal) -> None:
    with pytest.raises(ValueError):
        Offer(percent=percent, amount_off=amount_off)
