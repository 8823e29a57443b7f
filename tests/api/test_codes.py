"""Generating and fetching discount codes (API.md: POST and GET /api/v1/discountcode/)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.api.conftest import assert_problem, error_fields, percent_rule
from tests.conftest import Api, FakeClock

VALIDITY = "2027-05-31T23:59:59Z"


def body(**overrides: Any) -> dict[str, Any]:
    return {"id": "SPRINGSALE2022", "rule": {"brand": "acme", "discount": 10}, "validity": VALIDITY, **overrides}


async def create(api: Api, payload: Any, brand: str = "acme") -> Any:
    return await api.client.post("/api/v1/discountcode/", json=payload, headers=api.auth.brand(brand))


async def rules(api: Api) -> list[dict[str, Any]]:
    response = await api.client.get("/api/v1/discountrule/", headers=api.auth.brand())
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def acme(api: Api) -> Api:
    await api.brand("acme")
    return api


async def test_create_with_an_inline_rule(acme: Api, clock: FakeClock) -> None:
    response = await create(acme, body(id="springSale2022"))
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    created = response.json()
    assert created == {
        "id": "SPRINGSALE2022",
        "hash": hashlib.sha256(b"SPRINGSALE2022").hexdigest(),
        "rule": percent_rule(created["rule"]["id"], 10),
        "validity": VALIDITY,
        "created_at": "2026-01-15T12:00:00Z",
    }
    assert isinstance(created["rule"]["id"], int)
    assert response.headers["location"] == "/api/v1/discountcode/SPRINGSALE2022/"


async def test_validity_is_returned_in_utc(acme: Api) -> None:
    response = await create(acme, body(validity="2027-06-01T01:59:59+02:00"))
    assert response.json()["validity"] == VALIDITY


async def test_create_with_an_existing_rule_of_the_same_brand(acme: Api) -> None:
    rule = await acme.client.post(
        "/api/v1/discountrule/", json={"brand": "acme", "discount": 25}, headers=acme.auth.brand()
    )
    assert rule.status_code == 201, rule.text
    rule_id = rule.json()["id"]
    first = await create(acme, body(id="FIRST", rule=rule_id))
    second = await create(acme, body(id="SECOND", rule=rule_id))
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json()["rule"] == second.json()["rule"] == percent_rule(rule_id, 25)
    assert [r["id"] for r in await rules(acme)] == [rule_id]


async def test_unknown_rule_id_is_404(acme: Api) -> None:
    """A well-formed reference to nothing: the body is valid, the rule it names does not exist."""
    assert_problem(await create(acme, body(rule=4242)), 404, "rule_not_found")


async def test_rule_with_a_group(acme: Api) -> None:
    response = await create(acme, body(rule={"brand": "acme", "discount": 15, "group": "wholesale"}))
    assert response.status_code == 201, response.text
    assert response.json()["rule"]["group"] == "wholesale"
    fetched = await acme.client.get("/api/v1/discountcode/springsale2022/", headers=acme.auth.user())
    assert fetched.json()["rule"]["group"] == "wholesale"


async def test_code_exists_in_any_case(acme: Api) -> None:
    assert (await create(acme, body())).status_code == 201
    for again in ("SPRINGSALE2022", "springsale2022", "SpringSale2022"):
        response = await create(acme, body(id=again, rule={"brand": "acme", "discount": 50}))
        assert_problem(response, 409, "code_exists", again)
    assert len(await rules(acme)) == 1  # the refused requests' inline rules were not kept


async def test_fetch_by_any_case_and_by_hash(acme: Api) -> None:
    created = (await create(acme, body())).json()
    digest = hashlib.sha256(b"SPRINGSALE2022").hexdigest()
    for ref in ("SPRINGSALE2022", "springsale2022", "SpringSale2022", digest):
        response = await acme.client.get(f"/api/v1/discountcode/{ref}/", headers=acme.auth.user())
        assert response.status_code == 200, (ref, response.text)
        fetched = response.json()
        assert {k: fetched[k] for k in created} == created
        assert fetched["expired"] is False


async def test_unknown_code_is_404_by_string_and_hash(acme: Api) -> None:
    await create(acme, body())
    missing = ["NOSUCHCODE", hashlib.sha256(b"NOSUCHCODE").hexdigest(), hashlib.sha256(b"springsale2022").hexdigest()]
    for ref in missing:
        response = await acme.client.get(f"/api/v1/discountcode/{ref}/", headers=acme.auth.user())
        assert_problem(response, 404, "code_not_found")


async def test_expired_code_is_still_returned(acme: Api, clock: FakeClock) -> None:
    await create(acme, body(validity="2026-01-15T13:00:00Z"))
    url = "/api/v1/discountcode/SPRINGSALE2022/"
    clock.advance(hours=1)  # exactly the last valid moment
    assert (await acme.client.get(url, headers=acme.auth.user())).json()["expired"] is False
    clock.advance(seconds=1)
    response = await acme.client.get(url, headers=acme.auth.user())
    assert response.status_code == 200
    assert response.json()["expired"] is True


async def test_used_is_only_there_for_users(acme: Api) -> None:
    await create(acme, body())
    url = "/api/v1/discountcode/SPRINGSALE2022/"
    for headers in (acme.auth.brand(), acme.auth.service()):
        response = await acme.client.get(url, headers=headers)
        assert response.status_code == 200
        assert "used" not in response.json()
        assert response.json()["expired"] is False
    assert (await acme.client.get(url, headers=acme.auth.user("u-1"))).json()["used"] is False
    assert (await acme.redeem(user="u-1")).status_code == 201
    assert (await acme.client.get(url, headers=acme.auth.user("u-1"))).json()["used"] is True
    assert (await acme.client.get(url, headers=acme.auth.user("u-2"))).json()["used"] is False


async def test_brand_lists_its_own_codes(acme: Api) -> None:
    await acme.brand("other", "promo@other.example")
    await create(acme, body(id="ACME1"))
    await create(acme, body(id="OTHER1", rule={"brand": "other", "discount": 5}), brand="other")
    listed = await acme.client.get("/api/v1/discountcode/", headers=acme.auth.brand("acme"))
    assert [code["id"] for code in listed.json()] == ["ACME1"]


async def test_unregistered_brand_is_422(api: Api) -> None:
    """A valid token of a brand the directory does not know (yet): API.md part 1 pins 422 for the code."""
    problem = assert_problem(await create(api, body(), brand="acme"), 422, "brand_not_found")
    assert [error["loc"] for error in problem["errors"]] == [["body", "rule", "brand"]]
    rule = await api.client.post(
        "/api/v1/discountrule/", json={"brand": "acme", "discount": 5}, headers=api.auth.brand()
    )
    assert [error["loc"] for error in assert_problem(rule, 422, "brand_not_found")["errors"]] == [["body", "brand"]]


BAD_VALIDITIES = [
    "2026-01-15T11:59:59Z",  # a second ago
    "2026-01-15T12:00:00Z",  # now is not the future
    "2020-01-01T00:00:00+00:00",
    "2027-05-31T23:59:59",  # no offset
    "2027-05-31",
    "9999-12-31T23:59:59-23:59",  # beyond year 9999 in UTC
    "9999-12-01T00:00:00Z",  # its usages' grace period would end past year 9999
    1893456000,  # Unix time is not ISO 8601
    "1893456000",
    "soon",
    None,
]


async def test_the_latest_validity_redeems(acme: Api) -> None:
    """The last moment the document allows (November 9999, any offset) works end to end."""
    created = await create(acme, body(validity="9999-11-30T23:59:59-23:59"))
    assert created.status_code == 201, created.text
    assert created.json()["validity"] == "9999-12-01T23:58:59Z"
    assert (await acme.redeem()).status_code == 201


async def test_bad_validity_is_422(acme: Api) -> None:
    for validity in BAD_VALIDITIES:
        problem = assert_problem(await create(acme, body(validity=validity)), 422, "validation_error", validity)
        assert "validity" in error_fields(problem), validity


async def test_bad_discount_is_422(acme: Api) -> None:
    for discount in (0, 100, -5, 101, 10.5, 100.0, "10", True, None, [10]):
        response = await create(acme, body(rule={"brand": "acme", "discount": discount}))
        fields = error_fields(assert_problem(response, 422, "validation_error", discount))
        assert any(field.startswith("rule") and field.endswith("discount") for field in fields), (discount, fields)


async def test_an_integral_json_number_is_an_integer(acme: Api) -> None:
    """JSON Schema's ``integer`` takes 10.0 as 10, so the server does too (the document says integer)."""
    response = await create(acme, body(rule={"brand": "acme", "discount": 10.0, "max_uses": 5.0}))
    assert response.status_code == 201, response.text
    assert (response.json()["rule"]["discount"], response.json()["rule"]["max_uses"]) == (10, 5)


async def test_malformed_code_string_is_422(acme: Api) -> None:
    for code in ("ab", "X" * 65, "spring sale", "ä", "äbc", "straße", "ıii", "a/b", "", 123, None):
        problem = assert_problem(await create(acme, body(id=code)), 422, "validation_error", code)
        assert "id" in error_fields(problem), code


async def test_edge_lengths_are_accepted(acme: Api) -> None:
    for code in ("abc", "A" * 64, "a-b_c-9"):
        response = await create(acme, body(id=code))
        assert response.status_code == 201, response.text
        assert response.json()["id"] == code.upper()


async def test_unknown_or_missing_fields_are_listed(acme: Api) -> None:
    cases = [
        (body(extra=1), "extra"),
        (body(rule={"brand": "acme", "discount": 10, "percent": 10}), "percent"),
        (body(rule={"brand": "acme"}), "discount"),
        ({"id": "ABC", "validity": VALIDITY}, "rule"),
    ]
    for payload, field in cases:
        problem = assert_problem(await create(acme, payload), 422, "validation_error", payload)
        assert any(f.split(".")[-1] == field for f in error_fields(problem)), problem["errors"]


async def test_fetch_refuses_overlong_references(acme: Api) -> None:
    response = await acme.client.get(f"/api/v1/discountcode/{'A' * 65}/", headers=acme.auth.user())
    assert_problem(response, 422, "validation_error")
