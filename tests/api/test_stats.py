"""The brand's stats, usages and CSV export: computed from the durable ledger, the brand's own codes only."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from fastapi import FastAPI

from discounts.usage.ledger import copy_all
from tests.api.conftest import assert_problem, error_fields
from tests.conftest import Api, FakeClock


async def copy_ledger(app: FastAPI) -> None:
    """What the worker's periodic job does: the usage store's stream into the ledger."""
    runtime = app.state.runtime
    await copy_all(runtime.store, runtime.sessions, 1000)


async def limited_code(api: Api, code: str = "CAPPED", brand: str = "acme") -> None:
    rule = {"brand": brand, "discount": 10, "max_uses": 10, "budget": "100.00"}
    body = {"id": code, "rule": rule, "validity": "2027-05-31T23:59:59Z"}
    response = await api.client.post("/api/v1/discountcode/", json=body, headers=api.auth.brand(brand))
    assert response.status_code == 201, response.text


async def stats(api: Api, code: str = "CAPPED", **params: Any) -> dict[str, Any]:
    response = await api.client.get(f"/api/v1/discountcode/{code}/stats/", params=params, headers=api.auth.brand())
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_stats_count_uses_holds_give_backs_and_money(api: Api, app: FastAPI, clock: FakeClock) -> None:
    await api.brand()
    await limited_code(api)
    assert (await api.redeem("CAPPED", "u-1", amount="120.00")).status_code == 201
    assert (await api.redeem("CAPPED", "u-2", amount="50.00", hold=True)).status_code == 201
    third = await api.redeem("CAPPED", "u-3", amount="80.00")
    gone = await api.client.delete(f"/api/v1/discountcodeusage/{third.json()['id']}/", headers=api.auth.service())
    assert gone.status_code == 204
    before = await stats(api)
    assert (before["uses"], before["holds"]) == (0, 0)  # nothing copied to the ledger yet
    await copy_ledger(app)
    body = await stats(api)
    assert (body["uses"], body["holds"], body["rolled_back"], body["released"]) == (1, 1, 1, 0)
    assert (body["max_uses"], body["uses_left"]) == (10, 8)
    assert (body["discount_given"], body["budget"], body["budget_left"]) == ("12.00", "100.00", "83.00")
    assert body["totals"] == [{"currency": None, "uses": 1, "amount": "120.00", "discount_amount": "12.00"}]
    assert body["state"] == "active"
    assert len(body["hourly"]) == 72
    assert body["hourly"][-1] == {"start": "2026-01-15T12:00:00Z", "uses": 1}
    assert sum(point["uses"] for point in body["hourly"]) == 1
    assert body["daily"] == [{"start": "2026-01-15T00:00:00Z", "uses": 1}]

    clock.advance(hours=1)  # the hold ended without being confirmed: it gives back by itself
    later = await stats(api, hours=3)
    assert (later["holds"], later["uses_left"], later["budget_left"]) == (0, 9, "88.00")
    assert [point["start"] for point in later["hourly"]] == [
        "2026-01-15T11:00:00Z",
        "2026-01-15T12:00:00Z",
        "2026-01-15T13:00:00Z",
    ]


async def test_a_code_that_reached_max_uses_is_exhausted(api: Api, app: FastAPI) -> None:
    await api.brand()
    rule = {"brand": "acme", "amount_off": "5.00", "currency": "EUR", "max_uses": 2}
    body = {"id": "TWOONLY", "rule": rule, "validity": "2027-05-31T23:59:59Z"}
    assert (await api.client.post("/api/v1/discountcode/", json=body, headers=api.auth.brand())).status_code == 201
    for user in ("u-1", "u-2"):
        assert (await api.redeem("TWOONLY", user, amount="30.00", currency="EUR")).status_code == 201
    await copy_ledger(app)
    result = await stats(api, "twoonly")
    assert (result["state"], result["uses"], result["uses_left"]) == ("exhausted", 2, 0)
    assert result["totals"] == [{"currency": "EUR", "uses": 2, "amount": "60.00", "discount_amount": "10.00"}]


async def test_only_the_codes_brand_sees_its_stats_and_usages(api: Api) -> None:
    await api.brand()
    await api.brand("other", "promo@other.example")
    await limited_code(api)
    for path in ("stats/", "usages/", "usages/export/"):
        refused = await api.client.get(f"/api/v1/discountcode/CAPPED/{path}", headers=api.auth.brand("other"))
        assert_problem(refused, 403, "brand_mismatch", path)
        user = await api.client.get(f"/api/v1/discountcode/CAPPED/{path}", headers=api.auth.user())
        assert_problem(user, 403, "forbidden", path)
        unknown = await api.client.get(f"/api/v1/discountcode/NOSUCH/{path}", headers=api.auth.brand())
        assert_problem(unknown, 404, "code_not_found", path)


async def test_usages_come_newest_first_a_page_at_a_time(api: Api, app: FastAPI, clock: FakeClock) -> None:
    await api.brand()
    await limited_code(api)
    for n in range(5):
        assert (await api.redeem("CAPPED", f"u-{n}", amount="10.00")).status_code == 201
        clock.advance(minutes=1)
    await copy_ledger(app)
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = await api.client.get("/api/v1/discountcode/CAPPED/usages/", params=params, headers=api.auth.brand())
        assert page.status_code == 200, page.text
        seen += [item["user"] for item in page.json()["items"]]
        after = page.json()["next"]
        if after is None:
            break
    assert seen == ["u-4", "u-3", "u-2", "u-1", "u-0"]
    bad = await api.client.get("/api/v1/discountcode/CAPPED/usages/?after=bm9wZQ", headers=api.auth.brand())
    assert error_fields(assert_problem(bad, 422, "validation_error")) == ["after"]


async def test_the_export_lists_every_usage_as_csv(api: Api, app: FastAPI, clock: FakeClock) -> None:
    await api.brand()
    await limited_code(api)
    first = await api.redeem("CAPPED", "u-1", amount="120.00")
    clock.advance(minutes=5)
    assert (await api.redeem("CAPPED", "u-2", amount="50.00", currency="EUR")).status_code == 201
    await api.client.delete(f"/api/v1/discountcodeusage/{first.json()['id']}/", headers=api.auth.service())
    await copy_ledger(app)
    response = await api.client.get("/api/v1/discountcode/CAPPED/usages/export/", headers=api.auth.brand())
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="CAPPED-usages.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["user"], r["status"], r["currency"], r["discount_amount"]) for r in rows] == [
        ("u-1", "rolled_back", "", "12.00"),
        ("u-2", "used", "EUR", "5.00"),
    ]
    assert rows[0]["id"] == first.json()["id"]
    assert rows[0]["used_at"] == "2026-01-15T12:00:00Z"


async def test_bad_parameters_are_422(api: Api, client: httpx.AsyncClient) -> None:
    await api.brand()
    await limited_code(api)
    for query in ("hours=0", "hours=337", "hours=x"):
        response = await client.get(f"/api/v1/discountcode/CAPPED/stats/?{query}", headers=api.auth.brand())
        assert_problem(response, 422, "validation_error", query)
    for query in ("limit=0", "limit=201", "after=%24%24"):
        response = await client.get(f"/api/v1/discountcode/CAPPED/usages/?{query}", headers=api.auth.brand())
        assert_problem(response, 422, "validation_error", query)
