"""The marketplace cart (API.md part 3): quoted line by line, redeemed all or nothing, confirmed, given back."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import assert_problem, error_fields
from tests.api.test_stats import copy_ledger
from tests.conftest import Api, FakeClock

VALIDITY = "2027-05-31T23:59:59Z"
#: The API.md example, word for word.
EXAMPLE: dict[str, Any] = {
    "user": "u-123",
    "currency": "EUR",
    "codes": ["ACME10", "bolt5", "NOPE"],
    "lines": [
        {"id": "a", "brand": "acme", "price": "60.00", "quantity": 1},
        {"id": "b", "brand": "acme", "price": "40.00", "quantity": 1},
        {"id": "c", "brand": "bolt", "price": "30.00", "quantity": 2},
    ],
}
EXAMPLE_LINES = [
    {"id": "a", "subtotal": "60.00", "discount": "6.00", "total": "54.00"},
    {"id": "b", "subtotal": "40.00", "discount": "4.00", "total": "36.00"},
    {"id": "c", "subtotal": "60.00", "discount": "5.00", "total": "55.00"},
]
ACME10 = {
    "code": "ACME10",
    "brand": "acme",
    "discount": 10,
    "discount_amount": "10.00",
    "allocations": [{"line": "a", "amount": "6.00"}, {"line": "b", "amount": "4.00"}],
}
BOLT5 = {
    "code": "BOLT5",
    "brand": "bolt",
    "amount_off": "5.00",
    "currency": "EUR",
    "discount_amount": "5.00",
    "allocations": [{"line": "c", "amount": "5.00"}],
}


async def make_code(api: Api, code: str, brand: str, **rule: Any) -> None:
    body = {"id": code, "rule": {"brand": brand, **rule}, "validity": VALIDITY}
    response = await api.client.post("/api/v1/discountcode/", json=body, headers=api.auth.brand(brand))
    assert response.status_code == 201, response.text


@pytest.fixture
async def shop(api: Api) -> None:
    """Two brands, each with a code, and the shopper of the example."""
    await api.brand("acme")
    await api.brand("bolt", "promo@bolt.example")
    await api.user("u-123")
    await make_code(api, "ACME10", "acme", discount=10)
    await make_code(api, "BOLT5", "bolt", amount_off="5.00", currency="EUR")


pytestmark = pytest.mark.usefixtures("shop")


def cart(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLE, "codes": ["ACME10", "bolt5"], **changes}


async def quote(api: Api, body: dict[str, Any], user: str = "u-123") -> httpx.Response:
    return await api.client.post("/api/v1/cartquote/", json=body, headers=api.auth.user(user))


async def redeem(api: Api, body: dict[str, Any], user: str = "u-123", **headers: str) -> httpx.Response:
    return await api.client.post("/api/v1/cartredemption/", json=body, headers={**api.auth.user(user), **headers})


async def test_the_example_of_the_contract_is_quoted_as_it_says(api: Api) -> None:
    response = await quote(api, EXAMPLE)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "user": "u-123",
        "currency": "EUR",
        "applied": [ACME10, BOLT5],
        "rejected": [{"code": "NOPE", "reason": "code_not_found", "detail": body["rejected"][0]["detail"]}],
        "lines": EXAMPLE_LINES,
        "amount": "160.00",
        "discount_amount": "15.00",
        "amount_to_pay": "145.00",
    }
    # nothing was recorded: each code is still the shopper's to use
    assert (await api.redeem("ACME10", "u-123", amount="10.00")).status_code == 201


async def test_a_cart_is_redeemed_whole_and_each_code_is_a_usage_like_any_other(api: Api, clock: FakeClock) -> None:
    response = await redeem(api, cart())

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "used"
    assert "hold_expires_at" not in body
    assert (body["used_at"], body["amount_to_pay"], body["lines"]) == ("2026-01-15T12:00:00Z", "145.00", EXAMPLE_LINES)
    assert [{k: v for k, v in a.items() if k != "usage"} for a in body["applied"]] == [ACME10, BOLT5]
    assert "rejected" not in body
    again = await api.redeem("ACME10", "u-123", amount="10.00")
    assert_problem(again, 409, "code_already_used")
    fetched = await api.client.get("/api/v1/discountcode/BOLT5/", headers=api.auth.user("u-123"))
    assert fetched.json()["used"] is True
    # one code of the cart is given back alone (a returned line): the other stays used
    usage = body["applied"][1]["usage"]
    assert (
        await api.client.delete(f"/api/v1/discountcodeusage/{usage}/", headers=api.auth.user("u-123"))
    ).status_code == 204
    assert (await api.redeem("BOLT5", "u-123", amount="10.00", currency="EUR")).status_code == 201
    assert_problem(await api.redeem("ACME10", "u-123", amount="10.00"), 409, "code_already_used")


async def test_any_refused_code_refuses_the_whole_cart_and_records_nothing(api: Api) -> None:
    assert (await api.redeem("BOLT5", "u-123", amount="10.00", currency="EUR")).status_code == 201

    response = await redeem(api, {**EXAMPLE})

    body = assert_problem(response, 409, "cart_rejected")
    assert [(r["code"], r["reason"]) for r in body["rejected"]] == [
        ("BOLT5", "code_already_used"),
        ("NOPE", "code_not_found"),
    ]
    assert all(r["detail"] for r in body["rejected"])
    assert (await api.redeem("ACME10", "u-123", amount="10.00")).status_code == 201  # ACME10 was not taken


async def test_a_held_cart_is_confirmed_once_for_all_its_codes(api: Api, clock: FakeClock) -> None:
    held = await redeem(api, cart(hold=True))
    assert held.status_code == 201, held.text
    body = held.json()
    assert (body["status"], body["hold_expires_at"]) == ("held", "2026-01-15T12:15:00Z")
    assert_problem(await api.redeem("ACME10", "u-123", amount="10.00"), 409, "code_already_used")  # held counts

    clock.advance(minutes=5)
    confirmed = await api.client.post(f"/api/v1/cartredemption/{body['id']}/confirm/", headers=api.auth.user("u-123"))
    again = await api.client.post(f"/api/v1/cartredemption/{body['id']}/confirm/", headers=api.auth.service())

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "used"
    assert "hold_expires_at" not in confirmed.json()
    assert {k: v for k, v in confirmed.json().items() if k != "status"} == {
        k: v for k, v in body.items() if k not in ("status", "hold_expires_at")
    }
    assert (again.status_code, again.json()) == (200, confirmed.json())
    clock.advance(hours=1)  # a use, not a hold: it does not end
    assert_problem(await api.redeem("ACME10", "u-123", amount="10.00"), 409, "code_already_used")


async def test_a_held_cart_not_confirmed_in_time_gives_everything_back(api: Api, clock: FakeClock) -> None:
    body = (await redeem(api, cart(hold=True))).json()
    clock.advance(minutes=16)

    late = await api.client.post(f"/api/v1/cartredemption/{body['id']}/confirm/", headers=api.auth.user("u-123"))

    assert_problem(late, 410, "hold_expired")
    gone = await api.client.delete(f"/api/v1/cartredemption/{body['id']}/", headers=api.auth.user("u-123"))
    assert_problem(gone, 404, "cart_not_found")
    assert (await redeem(api, cart())).status_code == 201


async def test_a_cart_is_given_back_once_by_its_user_or_the_service(api: Api) -> None:
    body = (await redeem(api, cart())).json()
    path = f"/api/v1/cartredemption/{body['id']}/"

    assert_problem(await api.client.delete(path, headers=api.auth.brand("acme")), 403, "forbidden")
    assert_problem(await api.client.delete(path, headers=api.auth.user("u-9")), 404, "cart_not_found")
    assert_problem(await api.client.post(path + "confirm/", headers=api.auth.user("u-9")), 404, "cart_not_found")
    assert (await api.client.delete(path, headers=api.auth.service())).status_code == 204
    assert_problem(await api.client.delete(path, headers=api.auth.user("u-123")), 404, "cart_not_found")
    assert (await redeem(api, cart())).status_code == 201  # every code came back
    for unknown in ("0" * 32, "not-a-cart"):
        response = await api.client.delete(f"/api/v1/cartredemption/{unknown}/", headers=api.auth.user("u-123"))
        assert response.status_code in (404, 422)


async def test_a_redemption_retried_with_its_key_replays_the_first_answer(api: Api) -> None:
    first = await redeem(api, cart(), **{"Idempotency-Key": "order-1"})
    retry = await redeem(api, cart(), **{"Idempotency-Key": "order-1"})
    other = await redeem(api, cart(currency="USD"), **{"Idempotency-Key": "order-1"})

    assert first.status_code == 201
    assert (retry.status_code, retry.json(), retry.headers["idempotent-replayed"]) == (201, first.json(), "true")
    assert_problem(other, 422, "idempotency_key_reused")


async def test_codes_apply_in_priority_order_and_one_brands_codes_must_stack(api: Api) -> None:
    await make_code(api, "FIRST20", "acme", discount=20, priority=1, stackable=True)
    await make_code(api, "THEN10", "acme", discount=10, stackable=True)
    await make_code(api, "LONER", "acme", discount=5)
    lines = [{"id": "s1", "brand": "acme", "price": "100.00", "quantity": 1}]

    body = (await quote(api, {"user": "u-123", "codes": ["THEN10", "LONER", "FIRST20"], "lines": lines})).json()

    assert [(a["code"], a["discount_amount"]) for a in body["applied"]] == [("FIRST20", "20.00"), ("THEN10", "8.00")]
    assert [(r["code"], r["reason"]) for r in body["rejected"]] == [("LONER", "combination_disallowed")]
    assert (body["currency"], body["amount_to_pay"]) == (None, "72.00")


async def test_targeting_products_and_categories(api: Api) -> None:
    await make_code(api, "SHOES", "acme", discount=50, categories=["shoes"], products=["sku-9"])
    lines = [
        {"id": "hat", "brand": "acme", "product": "sku-1", "categories": ["hats"], "price": "10.00", "quantity": 1},
        {"id": "boot", "brand": "acme", "product": "sku-2", "categories": ["shoes"], "price": "30.00", "quantity": 1},
        {"id": "sock", "brand": "acme", "product": "sku-9", "price": "5.00", "quantity": 2},
    ]
    only_hats = [lines[0]]

    body = (await quote(api, {"user": "u-123", "codes": ["SHOES"], "lines": lines})).json()
    assert body["applied"][0]["allocations"] == [
        {"line": "boot", "amount": "15.00"},
        {"line": "sock", "amount": "5.00"},
    ]
    refused = (await quote(api, {"user": "u-123", "codes": ["SHOES"], "lines": only_hats})).json()
    assert [r["reason"] for r in refused["rejected"]] == ["not_applicable"]
    # a single redemption: its allocations at the top level, nothing eligible is a discount of 0.00
    single = await api.redeem("SHOES", "u-123", items=lines)
    assert (single.json()["discount_amount"], single.json()["allocations"][0]) == (
        "20.00",
        {"line": "boot", "amount": "15.00"},
    )
    quoted = await api.client.post(
        "/api/v1/discountcodequote/",
        json={"code": "SHOES", "user": "u-7", "items": only_hats},
        headers=api.auth.user("u-7"),
    )
    assert (quoted.json()["discount_amount"], quoted.json()["allocations"]) == ("0.00", [])
    by_amount = await api.client.post(
        "/api/v1/discountcodequote/",
        json={"code": "SHOES", "user": "u-7", "amount": "10.00"},
        headers=api.auth.user("u-7"),
    )
    assert_problem(by_amount, 422, "lines_required")


async def test_a_code_that_a_quote_would_refuse_for_money_reasons(api: Api) -> None:
    await make_code(api, "BIGSPEND", "acme", discount=10, min_amount="150.00")
    body = (await quote(api, {**EXAMPLE, "currency": None, "codes": ["BIGSPEND", "BOLT5"]})).json()
    assert [(r["code"], r["reason"]) for r in body["rejected"]] == [
        ("BIGSPEND", "min_amount_not_met"),
        ("BOLT5", "currency_mismatch"),
    ]
    assert body["applied"] == []
    assert body["discount_amount"] == "0.00"


async def test_only_the_shopper_quotes_and_redeems_for_themselves(api: Api) -> None:
    assert_problem(await quote(api, EXAMPLE, user="u-1"), 403, "user_mismatch")
    brand = await api.client.post("/api/v1/cartredemption/", json=cart(), headers=api.auth.brand("acme"))
    assert_problem(brand, 403, "forbidden")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"codes": [f"CODE{n}" for n in range(11)]}, "codes"),
        ({"codes": ["ACME10", "acme10"]}, "codes"),
        ({"codes": []}, "codes"),
        ({"lines": [{"brand": "acme", "price": "1.00", "quantity": 1}] * 1001}, "lines"),
        (
            {
                "lines": [
                    {"id": "1", "brand": "acme", "price": "1", "quantity": 1},
                    {"brand": "acme", "price": "1", "quantity": 1},
                ]
            },
            "lines",
        ),
        ({"lines": [{"id": "a b", "brand": "acme", "price": "1", "quantity": 1}]}, "lines.0.id"),
        ({"lines": [{"brand": "acme", "price": "1", "quantity": 1, "categories": ["x"] * 21}]}, "lines.0.categories"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_bad_carts_get_a_422_naming_the_field_and_change_nothing(
    api: Api, change: dict[str, Any], field: str
) -> None:
    for path in ("/api/v1/cartquote/", "/api/v1/cartredemption/"):
        response = await api.client.post(path, json={**cart(), **change}, headers=api.auth.user("u-123"))
        body = assert_problem(response, 422, "validation_error", change)
        assert any(loc == field or loc.startswith(field + ".") for loc in error_fields(body)), body
    assert (await redeem(api, cart())).status_code == 201


async def test_a_thousand_lines_with_one_malformed_names_that_line(api: Api) -> None:
    lines = [{"brand": "acme", "price": "1.00", "quantity": 1} for _ in range(1000)]
    lines[537] = {"brand": "acme", "price": "1.001", "quantity": 1}
    body = assert_problem(await redeem(api, cart(lines=lines)), 422, "validation_error")
    assert error_fields(body) == ["lines.537.price"]
    lines[537] = {"brand": "acme", "price": "1.00", "quantity": 1}
    ok = await redeem(api, cart(lines=lines, codes=["ACME10"]))
    assert ok.status_code == 201
    assert ok.json()["discount_amount"] == "100.00"


async def test_the_usage_of_a_cart_is_in_the_stats_usages_and_export(api: Api, app: FastAPI) -> None:
    body = (await redeem(api, cart())).json()
    await copy_ledger(app)

    stats = await api.client.get("/api/v1/discountcode/ACME10/stats/", headers=api.auth.brand("acme"))
    assert (stats.json()["uses"], stats.json()["discount_given"]) == (1, "10.00")
    page = await api.client.get("/api/v1/discountcode/ACME10/usages/", headers=api.auth.brand("acme"))
    (row,) = page.json()["items"]
    assert (row["id"], row["cart"], row["allocations"]) == (
        body["applied"][0]["usage"],
        body["id"],
        ACME10["allocations"],
    )
    export = await api.client.get("/api/v1/discountcode/ACME10/usages/export/", headers=api.auth.brand("acme"))
    (line,) = list(csv.DictReader(io.StringIO(export.text)))
    assert line["cart"] == body["id"]
    assert line["allocations"] == '[{"line":"a","amount":"6.00"},{"line":"b","amount":"4.00"}]'


async def test_unknown_codes_in_carts_count_as_guesses(api: Api, app: FastAPI) -> None:
    app.state.runtime.guesses = type(app.state.runtime.guesses)(
        app.state.runtime.guesses.storage, "3/minute", "100/minute"
    )
    body = {**EXAMPLE, "codes": ["NOPE1", "NOPE2", "ACME10"]}
    assert (await quote(api, body)).status_code == 200
    assert (await quote(api, {**EXAMPLE, "codes": ["NOPE3"]})).status_code == 200  # the third miss: blocked now
    assert_problem(await quote(api, cart()), 429, "rate_limited")  # the whole request, hits included
    assert_problem(await redeem(api, cart()), 429, "rate_limited")
