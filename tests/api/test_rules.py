"""API.md part 2, "Rules" and "Quote": every row, black-box, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import assert_problem, error_fields
from tests.conftest import Api, FakeClock

VALIDITY = "2027-05-31T23:59:59Z"


async def make_code(api: Api, rule: dict[str, Any], code: str = "CAMPAIGN", validity: str = VALIDITY) -> httpx.Response:
    body = {"id": code, "rule": {"brand": "acme", **rule}, "validity": validity}
    return await api.client.post("/api/v1/discountcode/", json=body, headers=api.auth.brand())


async def created(api: Api, rule: dict[str, Any], code: str = "CAMPAIGN") -> dict[str, Any]:
    response = await make_code(api, rule, code)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def redeem(api: Api, user: str = "u-1", code: str = "CAMPAIGN", **order: Any) -> httpx.Response:
    return await api.redeem(code, user, **(order or {"amount": "120.00"}))


async def quote(api: Api, user: str = "u-1", code: str = "CAMPAIGN", **order: Any) -> httpx.Response:
    payload = {"code": code, "user": user, **(order or {"amount": "120.00"})}
    return await api.client.post("/api/v1/discountcodequote/", json=payload, headers=api.auth.user(user))


@pytest.fixture
async def brand(api: Api) -> None:
    await api.brand()


pytestmark = pytest.mark.usefixtures("brand")


async def test_a_rule_is_returned_with_every_field_set_or_null(api: Api) -> None:
    rule = {
        "amount_off": "5",
        "currency": "EUR",
        "min_amount": 50,
        "starts_at": "2026-06-01T00:00:00+02:00",
        "max_uses": 1000,
        "max_uses_per_user": 2,
        "budget": "2500.00",
        "group": "students",
        "products": ["sku-2", "sku-1"],
        "categories": ["shoes"],
        "stackable": True,
        "priority": 5,
    }
    response = await api.client.post("/api/v1/discountrule/", json={"brand": "acme", **rule}, headers=api.auth.brand())
    assert response.status_code == 201, response.text
    assert response.json() == {
        "id": response.json()["id"],
        "brand": "acme",
        "discount": None,
        "amount_off": "5.00",
        "currency": "EUR",
        "min_amount": "50.00",
        "starts_at": "2026-05-31T22:00:00Z",
        "max_uses": 1000,
        "max_uses_per_user": 2,
        "budget": "2500.00",
        "group": "students",
        "products": ["sku-2", "sku-1"],
        "categories": ["shoes"],
        "stackable": True,
        "priority": 5,
    }
    code = await api.client.post(
        "/api/v1/discountcode/",
        json={"id": "BYID", "rule": response.json()["id"], "validity": VALIDITY},
        headers=api.auth.brand(),
    )
    assert code.status_code == 201, code.text
    fetched = await api.client.get("/api/v1/discountcode/BYID/", headers=api.auth.user())
    assert fetched.json()["rule"] == response.json()


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({}, "discount"),
        ({"discount": 10, "amount_off": "5", "currency": "EUR"}, "amount_off"),
        ({"amount_off": "5"}, "currency"),
        ({"amount_off": "0", "currency": "EUR"}, "amount_off"),
        ({"amount_off": "5", "currency": "eur"}, "currency"),
        ({"discount": 10, "max_uses": 0}, "max_uses"),
        ({"discount": 10, "max_uses_per_user": 0}, "max_uses_per_user"),
        ({"discount": 10, "budget": "-1"}, "budget"),
        ({"discount": 10, "min_amount": "1.001"}, "min_amount"),
        ({"discount": 10, "starts_at": "2026-06-01T00:00:00"}, "starts_at"),
        ({"discount": 10, "starts_at": "2027-06-01T00:00:00Z"}, "starts_at"),  # after the validity
    ],
)
async def test_malformed_rules_are_422_and_create_nothing(api: Api, rule: dict[str, Any], field: str) -> None:
    problem = assert_problem(await make_code(api, rule), 422, "validation_error", rule)
    assert any(name.split(".")[-1] == field for name in error_fields(problem)), problem["errors"]
    assert (await api.client.get("/api/v1/discountcode/CAMPAIGN/", headers=api.auth.user())).status_code == 404
    assert (await api.client.get("/api/v1/discountrule/", headers=api.auth.brand())).json() == []


async def test_a_rules_start_must_be_before_the_validity_of_a_code_that_uses_it(api: Api) -> None:
    late = {"brand": "acme", "discount": 10, "starts_at": "2027-01-01T00:00:00Z"}
    rule = (await api.client.post("/api/v1/discountrule/", json=late, headers=api.auth.brand())).json()
    body = {"id": "EARLY", "rule": rule["id"], "validity": "2026-12-31T00:00:00Z"}
    response = await api.client.post("/api/v1/discountcode/", json=body, headers=api.auth.brand())
    assert_problem(response, 422, "validation_error")
    body["validity"] = VALIDITY
    assert (await api.client.post("/api/v1/discountcode/", json=body, headers=api.auth.brand())).status_code == 201


async def test_a_fixed_amount_is_never_more_than_the_eligible_amount(api: Api) -> None:
    await created(api, {"amount_off": "25", "currency": "EUR"})
    used = await redeem(api, amount="120.00", currency="EUR")
    assert used.status_code == 201, used.text
    body = used.json()
    assert "discount" not in body
    assert (body["amount_off"], body["currency"], body["discount_amount"], body["amount_to_pay"]) == (
        "25.00",
        "EUR",
        "25.00",
        "95.00",
    )
    cart = [{"brand": "acme", "price": "10.00", "quantity": 1}, {"brand": "other", "price": "90.00", "quantity": 1}]
    small = await redeem(api, user="u-2", items=cart, currency="EUR")
    assert (small.json()["discount_amount"], small.json()["amount_to_pay"]) == ("10.00", "90.00")


async def test_currency_is_required_and_must_match_for_a_rule_with_one(api: Api) -> None:
    await created(api, {"amount_off": "5", "currency": "EUR"})
    assert_problem(await redeem(api, amount="50"), 422, "currency_mismatch")
    assert_problem(await redeem(api, amount="50", currency="USD"), 422, "currency_mismatch")
    assert_problem(await quote(api, amount="50", currency="USD"), 422, "currency_mismatch")
    assert (await redeem(api, amount="50", currency="EUR")).status_code == 201  # the refusals used nothing


async def test_a_percent_rule_without_currency_takes_any(api: Api) -> None:
    await created(api, {"discount": 10})
    response = await redeem(api, amount="50", currency="JPY")
    assert response.status_code == 201
    assert (response.json()["discount"], response.json()["currency"]) == (10, "JPY")


async def test_min_amount_counts_the_eligible_amount_only(api: Api) -> None:
    await created(api, {"discount": 10, "min_amount": "50"})
    cart = [{"brand": "acme", "price": "40.00", "quantity": 1}, {"brand": "other", "price": "100.00", "quantity": 1}]
    assert_problem(await redeem(api, items=cart), 422, "min_amount_not_met")
    assert_problem(await redeem(api, amount="49.99"), 422, "min_amount_not_met")
    assert (await redeem(api, amount="50.00")).status_code == 201


async def test_a_code_is_not_active_before_its_start(api: Api, clock: FakeClock) -> None:
    await created(api, {"discount": 10, "starts_at": "2026-01-15T13:00:00Z"})
    assert_problem(await redeem(api), 409, "code_not_active")
    assert_problem(await quote(api), 409, "code_not_active")
    clock.advance(hours=1)
    assert (await redeem(api)).status_code == 201


async def test_only_the_rules_group_may_use_it(api: Api) -> None:
    await api.user("u-1", group="students")
    await api.user("u-2", group="staff")
    await created(api, {"discount": 10, "group": "students"})
    assert_problem(await redeem(api, user="u-2"), 403, "not_in_group")
    assert_problem(await redeem(api, user="nobody"), 403, "not_in_group")  # not in the directory: no group
    assert (await redeem(api, user="u-1")).status_code == 201


async def test_uses_per_user_then_code_already_used(api: Api) -> None:
    await created(api, {"discount": 10, "max_uses_per_user": 3})
    assert [(await redeem(api)).status_code for _ in range(3)] == [201, 201, 201]
    assert_problem(await redeem(api), 409, "code_already_used")
    assert (await api.client.get("/api/v1/discountcode/CAMPAIGN/", headers=api.auth.user())).json()["used"] is True


async def test_max_uses_then_code_exhausted(api: Api) -> None:
    await created(api, {"discount": 10, "max_uses": 2})
    assert (await redeem(api, user="u-1")).status_code == 201
    assert (await redeem(api, user="u-2")).status_code == 201
    assert_problem(await redeem(api, user="u-3"), 409, "code_exhausted")
    assert_problem(await quote(api, user="u-3"), 409, "code_exhausted")
    assert_problem(await redeem(api, user="u-1"), 409, "code_already_used")  # the user's own count comes first


async def test_a_discount_that_would_pass_the_budget_is_refused_whole(api: Api) -> None:
    await created(api, {"amount_off": "30", "currency": "EUR", "budget": "50"})
    assert (await redeem(api, user="u-1", amount="100", currency="EUR")).json()["discount_amount"] == "30.00"
    assert_problem(await redeem(api, user="u-2", amount="100", currency="EUR"), 409, "code_exhausted")
    smaller = await redeem(api, user="u-3", amount="20", currency="EUR")  # 20.00 off still fits the 20.00 left
    assert smaller.status_code == 201
    assert smaller.json()["discount_amount"] == "20.00"
    assert_problem(await redeem(api, user="u-4", amount="0.01", currency="EUR"), 409, "code_exhausted")


async def test_refusals_come_in_the_contracts_order(api: Api, clock: FakeClock) -> None:
    await api.user("u-2", group="staff")
    rule = {"amount_off": "5", "currency": "EUR", "min_amount": "50", "starts_at": "2026-02-01T00:00:00Z"}
    await created(api, {**rule, "group": "students", "max_uses": 1})
    # user_mismatch, then 404, then 410 come before everything of part 2.
    other = await api.client.post(
        "/api/v1/discountcodeusage/",
        json={"code": "CAMPAIGN", "user": "u-9", "amount": "1"},
        headers=api.auth.user("u-2"),
    )
    assert_problem(other, 403, "user_mismatch")
    assert_problem(await redeem(api, user="u-2", code="NOSUCH", amount="1"), 404, "code_not_found")
    # not_in_group before code_not_active before currency/min_amount.
    assert_problem(await redeem(api, user="u-2", amount="1"), 403, "not_in_group")
    await api.user("u-2", group="students")
    assert_problem(await redeem(api, user="u-2", amount="1"), 409, "code_not_active")
    clock.advance(days=30)
    assert_problem(await redeem(api, user="u-2", amount="1"), 422, "currency_mismatch")
    assert_problem(await redeem(api, user="u-2", amount="1", currency="EUR"), 422, "min_amount_not_met")
    assert (await redeem(api, user="u-2", amount="50", currency="EUR")).status_code == 201
    # code_already_used before code_exhausted.
    assert_problem(await redeem(api, user="u-2", amount="50", currency="EUR"), 409, "code_already_used")
    await api.user("u-3", group="students")
    assert_problem(await redeem(api, user="u-3", amount="50", currency="EUR"), 409, "code_exhausted")
    clock.advance(days=3650)
    assert_problem(await redeem(api, user="u-3", amount="50", currency="EUR"), 410, "code_expired")


async def test_a_quote_answers_what_the_redemption_would_and_records_nothing(api: Api) -> None:
    await created(api, {"discount": 10, "max_uses": 1})
    quoted = await quote(api, amount="120.00")
    assert quoted.status_code == 200, quoted.text
    assert quoted.json() == {
        "code": "CAMPAIGN",
        "user": "u-1",
        "discount": 10,
        "amount": "120.00",
        "discount_amount": "12.00",
        "amount_to_pay": "108.00",
    }
    assert (await quote(api, user="u-2")).status_code == 200  # the quotes took nothing of max_uses
    fetched = await api.client.get("/api/v1/discountcode/CAMPAIGN/", headers=api.auth.user())
    assert fetched.json()["used"] is False
    used = await redeem(api, amount="120.00")
    assert used.status_code == 201
    assert {key: value for key, value in used.json().items() if key not in ("used_at", "id", "status")} == quoted.json()
    assert_problem(await quote(api), 409, "code_already_used")
    assert_problem(await quote(api, user="u-2"), 409, "code_exhausted")
    assert_problem(await quote(api, code="NOSUCH"), 404, "code_not_found")


async def test_a_quote_is_for_users_only(api: Api) -> None:
    await created(api, {"discount": 10})
    payload = {"code": "CAMPAIGN", "user": "u-1", "amount": "10"}
    response = await api.client.post("/api/v1/discountcodequote/", json=payload, headers=api.auth.brand())
    assert_problem(response, 403, "forbidden")
    assert_problem(await api.client.post("/api/v1/discountcodequote/", json=payload), 401, "unauthenticated")


async def test_codes_made_before_limits_keep_their_answers(api: Api) -> None:
    """A part-1 rule ({brand, discount}) still redeems once per user with the part-1 body (and part 2's id)."""
    await created(api, {"discount": 10})
    first = await redeem(api)
    assert first.status_code == 201
    part_1 = {"code", "user", "used_at", "discount", "amount", "discount_amount", "amount_to_pay"}
    assert set(first.json()) == part_1 | {"id", "status"}
    assert_problem(await redeem(api), 409, "code_already_used")
