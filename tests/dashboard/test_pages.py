"""The dashboard's pages over HTTP: the brand's codes only, the create form's errors, rollback, CSV."""

from __future__ import annotations

import csv
import io
import re

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.codes.models import DiscountRule
from tests.api.test_stats import copy_ledger
from tests.conftest import Api, FakeClock
from tests.dashboard.conftest import Browser, signed_in

FORM = {"id": "SPRING", "validity": "2027-05-31T23:59", "tz": "Europe/Paris", "rule": "new", "kind": "percent"}


def invalid_fields(page: str) -> set[str]:
    return set(re.findall(r'id="f-([a-z_]+)"[^>]*aria-invalid="true"', page))


async def test_a_code_made_in_the_form_is_the_apis_code(acme: Browser, api: Api) -> None:
    form = {**FORM, "discount": "15", "max_uses": "100", "budget": "500", "starts_at": "2026-02-01T09:00"}
    created = await acme.post("/dashboard/codes/new", form)
    assert (created.status_code, created.headers["location"]) == (303, "/dashboard/?created=SPRING")
    code = await api.client.get("/api/v1/discountcode/spring/", headers=api.auth.brand())
    body = code.json()
    assert body["validity"] == "2027-05-31T21:59:00Z"  # the browser's zone, Europe/Paris in summer
    rule = body["rule"]
    assert (rule["discount"], rule["max_uses"], rule["budget"]) == (15, 100, "500.00")
    assert rule["starts_at"] == "2026-02-01T08:00:00Z"
    page = await acme.client.get("/dashboard/?created=SPRING")
    assert "Code <strong>SPRING</strong> was created" in page.text


async def test_a_code_for_some_products_that_stacks(acme: Browser, api: Api) -> None:
    form = {**FORM, "discount": "10", "products": "sku-1, sku-2,", "categories": "shoes", "stackable": "yes"}
    assert (await acme.post("/dashboard/codes/new", {**form, "priority": "7"})).status_code == 303
    rule = (await api.client.get("/api/v1/discountcode/SPRING/", headers=api.auth.brand())).json()["rule"]
    assert (rule["products"], rule["categories"], rule["stackable"], rule["priority"]) == (
        ["sku-1", "sku-2"],
        ["shoes"],
        True,
        7,
    )
    page = await acme.client.get("/dashboard/codes/new")
    assert f"Rule {rule['id']}: 10% off, 2 products, categories shoes, stackable, priority 7</option>" in page.text
    refused = await acme.post("/dashboard/codes/new", {**form, "id": "AUTUMN", "priority": "2000"})
    assert (refused.status_code, invalid_fields(refused.text)) == (422, {"priority"})
    bad_product = await acme.post("/dashboard/codes/new", {**form, "id": "AUTUMN", "products": "sku 1"})
    assert (bad_product.status_code, invalid_fields(bad_product.text)) == (422, {"products"})
    plain = await acme.post("/dashboard/codes/new", {**FORM, "id": "PLAIN", "discount": "5"})
    assert plain.status_code == 303
    rule = (await api.client.get("/api/v1/discountcode/PLAIN/", headers=api.auth.brand())).json()["rule"]
    assert (rule["products"], rule["categories"], rule["stackable"], rule["priority"]) == (None, None, False, 100)


async def test_a_fixed_amount_and_an_existing_rule(acme: Browser, api: Api) -> None:
    form = {**FORM, "kind": "amount", "amount_off": "5", "currency": "EUR", "discount": "99", "min_amount": "20"}
    assert (await acme.post("/dashboard/codes/new", form)).status_code == 303
    first = (await api.client.get("/api/v1/discountcode/SPRING/", headers=api.auth.brand())).json()["rule"]
    assert (first["discount"], first["amount_off"], first["currency"], first["min_amount"]) == (
        None,
        "5.00",
        "EUR",
        "20.00",
    )
    page = await acme.client.get("/dashboard/codes/new")
    assert f'<option value="{first["id"]}">Rule {first["id"]}: €5.00 off, from €20.00</option>' in page.text
    again = await acme.post("/dashboard/codes/new", {**FORM, "id": "AUTUMN", "rule": str(first["id"])})
    assert again.status_code == 303
    second = (await api.client.get("/api/v1/discountcode/AUTUMN/", headers=api.auth.brand())).json()["rule"]
    assert second["id"] == first["id"]


async def test_the_apis_errors_show_next_to_their_fields_and_nothing_is_stored(
    acme: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    cases = [
        ({"discount": "150"}, {"discount"}, "less than 100"),
        ({"id": "a!", "discount": "10"}, {"id"}, "3 to 64 characters"),
        ({"discount": "ten"}, {"discount"}, "valid integer"),
        ({"kind": "amount", "amount_off": "5"}, {"currency"}, "needs a &#39;currency&#39;"),
        ({"kind": "amount"}, {"amount_off"}, "give &#39;discount&#39;"),
        ({"discount": "10", "budget": "1.234"}, {"budget"}, "at most 2 fraction digits"),
        # found by the domain after the rule was made: the rule must not stay behind
        ({"discount": "10", "validity": "2020-01-01T00:00"}, {"validity"}, "must be in the future"),
        ({"discount": "10", "starts_at": "2028-01-01T00:00"}, {"starts_at"}, "before the code&#39;s validity"),
        ({"rule": "999"}, {"rule"}, "no rule 999"),
    ]
    for changes, fields, message in cases:
        page = await acme.post("/dashboard/codes/new", {**FORM, **changes})
        assert page.status_code == 422, changes
        assert invalid_fields(page.text) == fields, (changes, page.text)
        assert message in page.text, (changes, message)
        assert 'role="alert"' in page.text
        assert f'value="{FORM["tz"]}"' in page.text  # what was typed comes back
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DiscountRule)) == 0
    assert (await acme.post("/dashboard/codes/new", {**FORM, "discount": "10"})).status_code == 303
    taken = await acme.post("/dashboard/codes/new", {**FORM, "discount": "10"})
    assert invalid_fields(taken.text) == {"id"}
    assert "exists already" in taken.text


async def test_codes_are_filtered_by_state_searched_and_paged(
    acme: Browser, api: Api, app: FastAPI, clock: FakeClock
) -> None:
    specs = {
        "ACTIVE-ONE": {},
        "SOON": {"starts_at": "2026-06-01T00:00"},
        "SHORT": {"validity": "2026-01-15T14:30"},  # 13:30 UTC
        "ONLY_ONCE": {"max_uses": "1"},
    }
    for code, changes in specs.items():
        response = await acme.post("/dashboard/codes/new", {**FORM, "id": code, "discount": "10", **changes})
        assert response.status_code == 303, response.text
    assert (await api.redeem("ONLY_ONCE", "u-1")).status_code == 201
    await copy_ledger(app)
    clock.advance(hours=2)  # SHORT has expired

    async def listed(query: str) -> list[str]:
        page = await acme.client.get(f"/dashboard/?{query}")
        assert page.status_code == 200, page.text
        return re.findall(r'<a href="/dashboard/codes/([A-Z0-9_-]+)/">', page.text)

    assert sorted(await listed("")) == sorted(specs)
    assert await listed("state=active") == ["ACTIVE-ONE"]
    assert await listed("state=scheduled") == ["SOON"]
    assert await listed("state=expired") == ["SHORT"]
    assert await listed("state=exhausted") == ["ONLY_ONCE"]
    assert sorted(await listed("q=on")) == ["ACTIVE-ONE", "ONLY_ONCE", "SOON"]  # in any case
    assert await listed("q=y_o") == ["ONLY_ONCE"]  # "_" is a code's character, not a wildcard
    assert await listed("q=%25") == []
    assert (await acme.client.get("/dashboard/?state=nonsense")).status_code == 422
    for n in range(26):
        await acme.post("/dashboard/codes/new", {**FORM, "id": f"BULK{n:02}", "discount": "10"})
    first, second = await listed("q=BULK"), await listed("q=BULK&page=2")
    assert (len(first), len(second)) == (25, 1)
    assert "Page 1 of 2" in (await acme.client.get("/dashboard/?q=BULK")).text


async def test_another_brands_session_sees_none_of_its_codes_or_usages(acme: Browser, api: Api, app: FastAPI) -> None:
    assert (await acme.post("/dashboard/codes/new", {**FORM, "discount": "10"})).status_code == 303
    used = await api.redeem("SPRING", "u-1")
    await copy_ledger(app)
    usage_id = used.json()["id"]
    await api.brand("other", "promo@other.example")
    other = await signed_in(app, api, "other")
    try:
        listing = await other.client.get("/dashboard/")
        assert "SPRING" not in listing.text
        assert "No codes yet" in listing.text
        for path in (
            "codes/SPRING/",
            "codes/SPRING/live",
            "codes/SPRING/usages.csv",
            f"codes/SPRING/usages/{usage_id}/roll-back",
        ):
            response = await other.client.get(f"/dashboard/{path}")
            assert response.status_code == 404, path
            assert "u-1" not in response.text
        refused = await other.post(f"/dashboard/codes/SPRING/usages/{usage_id}/roll-back")
        assert refused.status_code == 404
        # nor through one of its own codes' pages
        assert (await other.post("/dashboard/codes/new", {**FORM, "id": "MINE", "discount": "5"})).status_code == 303
        through = await other.post(f"/dashboard/codes/MINE/usages/{usage_id}/roll-back")
        assert through.status_code == 404
    finally:
        await other.client.aclose()
    assert (await api.redeem("SPRING", "u-1")).status_code == 409  # the use is still there


async def test_a_use_rolled_back_from_the_code_page(acme: Browser, api: Api, app: FastAPI) -> None:
    assert (await acme.post("/dashboard/codes/new", {**FORM, "discount": "10", "max_uses": "1"})).status_code == 303
    used = await api.redeem("SPRING", "u-1", amount="80.00")
    await copy_ledger(app)
    page = await acme.client.get("/dashboard/codes/SPRING/")
    assert page.status_code == 200
    usage_id = used.json()["id"]
    link = f"/dashboard/codes/SPRING/usages/{usage_id}/roll-back"
    assert f'href="{link}"' in page.text
    assert re.search(r'id="stat-uses">1<', page.text)
    assert re.search(r'id="stat-uses-left">0<', page.text)
    confirm = await acme.client.get(link)
    assert confirm.status_code == 200
    assert "Roll back this use of SPRING?" in confirm.text
    assert "u-1" in confirm.text
    done = await acme.post(link)
    assert (done.status_code, done.headers["location"]) == (303, "/dashboard/codes/SPRING/?done=rolled_back")
    assert (await api.redeem("SPRING", "u-2")).status_code == 201  # its one use is free again
    assert (await acme.post(link)).status_code == 404  # rolled back once only
    await copy_ledger(app)
    live = await acme.client.get("/dashboard/codes/SPRING/live")
    assert re.search(r'id="stat-rolled-back">1<', live.text)
    assert "Rolled back" in live.text


async def test_the_csv_has_every_use(acme: Browser, api: Api, app: FastAPI, clock: FakeClock) -> None:
    assert (await acme.post("/dashboard/codes/new", {**FORM, "discount": "10"})).status_code == 303
    for n in range(3):
        assert (await api.redeem("SPRING", f"u-{n}", amount="10.00")).status_code == 201
        clock.advance(minutes=1)
    await copy_ledger(app)
    response = await acme.client.get("/dashboard/codes/SPRING/usages.csv")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="SPRING-usages.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(row["user"], row["status"], row["discount_amount"]) for row in rows] == [
        ("u-0", "used", "1.00"),
        ("u-1", "used", "1.00"),
        ("u-2", "used", "1.00"),
    ]


async def test_pages_are_locked_down(acme: Browser, api: Api) -> None:
    page = await acme.client.get("/dashboard/codes/new")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"
    for unknown in ("/dashboard/nothing", "/dashboard/codes/NOSUCH/"):
        missing = await acme.client.get(unknown)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
    assert (await acme.client.get("/dashboard/static/vendor/htmx.min.js")).status_code == 200
    wrong = await acme.client.put("/dashboard/codes/new")
    assert wrong.status_code == 405
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "POST"}
