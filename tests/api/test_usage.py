"""Using a code (API.md: POST /api/v1/discountcodeusage/): money, checks in order, once per user."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.conftest import assert_problem, error_fields
from tests.conftest import Api, FakeClock

URL = "/api/v1/discountcodeusage/"
CART = [{"brand": "acme", "price": "50.00", "quantity": 2}, {"brand": "other", "price": "20.00", "quantity": 1}]


@pytest.fixture
async def code(api: Api) -> Api:
    """acme's 10% code SPRINGSALE2022, valid until 2027."""
    await api.brand("acme")
    await api.code(discount=10)
    return api


async def post(api: Api, user: str = "u-1", **body: Any) -> Any:
    return await api.client.post(
        URL, json={"code": "SPRINGSALE2022", "user": user, **body}, headers=api.auth.user(user)
    )


def money(response: Any) -> tuple[str, str, str]:
    assert response.status_code == 201, response.text
    body = response.json()
    return body["amount"], body["discount_amount"], body["amount_to_pay"]


async def test_redeem_returns_the_contracts_body(code: Api) -> None:
    response = await post(code, amount="120.00", code="springsale2022")
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body.pop("id"), str)
    assert body == {
        "status": "used",
        "code": "SPRINGSALE2022",
        "user": "u-1",
        "used_at": "2026-01-15T12:00:00Z",
        "discount": 10,
        "amount": "120.00",
        "discount_amount": "12.00",
        "amount_to_pay": "108.00",
    }


async def test_amount_as_string_or_number(code: Api) -> None:
    cases = [
        ("5", ("5.00", "0.50", "4.50")),
        (5, ("5.00", "0.50", "4.50")),
        (120.5, ("120.50", "12.05", "108.45")),
        ("0.05", ("0.05", "0.01", "0.04")),  # 0.005 rounds half-up
        ("0", ("0.00", "0.00", "0.00")),
        ("999999999999.99", ("999999999999.99", "100000000000.00", "899999999999.99")),  # 99999999999.999
    ]
    for number, (amount, expected) in enumerate(cases):
        assert money(await post(code, user=f"u-{number}", amount=amount)) == expected, amount


async def test_cart_discounts_only_the_codes_brand(code: Api) -> None:
    assert money(await post(code, items=CART)) == ("120.00", "10.00", "110.00")


async def test_cart_prices_as_numbers(code: Api) -> None:
    items = [{"brand": "acme", "price": 0.25, "quantity": 1}]
    assert money(await post(code, items=items)) == ("0.25", "0.03", "0.22")


async def test_bad_amounts_are_422(code: Api) -> None:
    for amount in ("1.005", 1.005, "-1", -1, "abc", "", "1e3", "NaN", "Infinity", "1000000000000", 1e20, True, [1], {}):
        problem = assert_problem(await post(code, amount=amount), 422, "validation_error", amount)
        assert "amount" in error_fields(problem), amount


async def test_non_standard_json_numbers_are_422(code: Api) -> None:
    headers = {**code.auth.user("u-1"), "Content-Type": "application/json"}
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1" * 5000):
        raw = b'{"code": "SPRINGSALE2022", "user": "u-1", "amount": ' + literal + b"}"
        response = await code.client.post(URL, content=raw, headers=headers)
        assert_problem(response, 422, "validation_error", literal[:20])


async def test_amount_xor_items_and_well_formed_lines(code: Api) -> None:
    line = {"brand": "acme", "price": "1.00", "quantity": 1}
    cases: list[dict[str, Any]] = [
        {},
        {"amount": "10", "items": CART},
        {"items": []},
        {"items": None},
        {"amount": None},
        {"items": [line | {"quantity": 0}]},
        {"items": [line | {"quantity": -1}]},
        {"items": [line | {"quantity": 1.5}]},
        {"items": [line | {"price": "1.001"}]},
        {"items": [{"brand": "acme", "price": "1.00"}]},
        {"items": [line | {"price": "999999999999.99", "quantity": 2}]},
        {"items": "acme"},
    ]
    for extra in cases:
        assert_problem(await post(code, **extra), 422, "validation_error", extra)


async def test_unknown_fields_are_listed(code: Api) -> None:
    cases = [
        ({"amount": "10", "coupon": "x"}, "coupon"),
        ({"items": [{"brand": "acme", "price": "1", "quantity": 1, "sku": "x"}]}, "sku"),
    ]
    for extra, field in cases:
        problem = assert_problem(await post(code, **extra), 422, "validation_error", extra)
        assert any(f.split(".")[-1] == field for f in error_fields(problem)), problem["errors"]


async def test_malformed_code_or_user_is_422(code: Api) -> None:
    for body in ({"code": "ab", "user": "u-1"}, {"code": "straße", "user": "u-1"}, {"code": "ABC", "user": "u 1"}):
        response = await code.client.post(URL, json={**body, "amount": "1"}, headers=code.auth.user("u-1"))
        assert_problem(response, 422, "validation_error")


async def test_unknown_code_is_404(code: Api) -> None:
    assert_problem(await post(code, amount="1", code="NOSUCHCODE"), 404, "code_not_found")


async def test_expired_code_is_410(code: Api, clock: FakeClock) -> None:
    clock.now = clock.now.replace(year=2027, month=6, day=1)
    assert_problem(await post(code, amount="1"), 410, "code_expired")
    clock.now = clock.now.replace(year=2026)
    fetched = await code.client.get("/api/v1/discountcode/SPRINGSALE2022/", headers=code.auth.user())
    assert fetched.json()["used"] is False  # the refused attempt recorded nothing


async def test_second_use_is_409_in_any_case(code: Api) -> None:
    assert (await post(code, amount="1")).status_code == 201
    assert_problem(await post(code, amount="1"), 409, "code_already_used")
    assert_problem(await post(code, amount="1", code="springsale2022"), 409, "code_already_used")
    assert (await post(code, user="u-2", amount="1")).status_code == 201


async def test_checks_run_in_the_contracts_order(code: Api, clock: FakeClock) -> None:
    """403 user_mismatch before 404, 404 before 410, 410 before 409."""
    other = {"code": "NOSUCHCODE", "user": "u-2", "amount": "1"}
    assert_problem(await code.client.post(URL, json=other, headers=code.auth.user("u-1")), 403, "user_mismatch")
    assert (await post(code, amount="1")).status_code == 201
    clock.now = clock.now.replace(year=2028)
    mismatch = {"code": "SPRINGSALE2022", "user": "u-2", "amount": "1"}
    assert_problem(await code.client.post(URL, json=mismatch, headers=code.auth.user("u-1")), 403, "user_mismatch")
    assert_problem(await post(code, amount="1", code="NOSUCHCODE"), 404, "code_not_found")
    assert_problem(await post(code, amount="1"), 410, "code_expired")  # used before, but expired wins


async def test_concurrent_redemptions_give_exactly_one_201(code: Api) -> None:
    responses = await asyncio.gather(*(post(code, amount="120.00") for _ in range(50)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 49, statuses
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "code_already_used")
