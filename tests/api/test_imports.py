"""Importing a brand's existing codes: ``POST /api/v1/discountcodeimport/``, all of them or none."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import BATCHES, assert_problem, batches_and_rules, csv_rows, error_fields, generated_batch
from tests.conftest import Api, FakeClock

IMPORTS = "/api/v1/discountcodeimport/"
VALIDITY = "2027-05-31T23:59:59Z"


def import_body(codes: list[str], **extra: Any) -> dict[str, Any]:
    return {"rule": {"brand": "acme", "discount": 20}, "validity": VALIDITY, "codes": codes, **extra}


async def post_import(api: Api, body: dict[str, Any], brand: str = "acme") -> httpx.Response:
    return await api.client.post(IMPORTS, json=body, headers=api.auth.brand(brand))


async def test_imported_codes_are_a_done_batch_and_redeem_once_each(acme: Api) -> None:
    imported = await post_import(acme, import_body(["old-1", "Old-2", "OLD_3"]))
    assert imported.status_code == 201, imported.text
    batch = imported.json()
    assert imported.headers["location"] == f"{BATCHES}{batch['id']}/"
    assert (batch["kind"], batch["status"], batch["count"], batch["generated"]) == ("imported", "done", 3, 3)
    assert (batch["prefix"], batch["length"], batch["rule"]["max_uses"]) == (None, None, 1)
    assert [row["code"] for row in await csv_rows(acme, batch["id"])] == ["OLD-1", "OLD-2", "OLD_3"]
    assert (await acme.redeem("old-2", "u-1")).status_code == 201
    assert_problem(await acme.redeem("OLD-2", "u-2"), 409, "code_exhausted")
    listed = (await acme.client.get(BATCHES, headers=acme.auth.brand())).json()
    assert [b["id"] for b in listed] == [batch["id"]]


async def test_codes_given_twice_are_each_listed_and_nothing_is_imported(acme: Api, app: FastAPI) -> None:
    before = await batches_and_rules(app.state.runtime.sessions)
    refused = await post_import(acme, import_body(["A-1", "B-2", "a-1", "C-3", "b-2", "A-1"]))
    problem = assert_problem(refused, 422, "validation_error")
    assert error_fields(problem) == ["codes.2", "codes.4", "codes.5"]
    assert [error["msg"] for error in problem["errors"]] == [
        "A-1 is codes[0] again",
        "B-2 is codes[1] again",
        "A-1 is codes[0] again",
    ]
    assert await batches_and_rules(app.state.runtime.sessions) == before


async def test_codes_that_exist_anywhere_are_each_listed_and_nothing_is_imported(
    acme: Api,
    app: FastAPI,
    clock: FakeClock,
) -> None:
    await acme.code("OURS")
    await acme.code("THEIRS", brand="other")
    batch = await generated_batch(acme, app, clock, count=2)
    batch_code = (await csv_rows(acme, batch["id"]))[1]["code"]
    before = await batches_and_rules(app.state.runtime.sessions)
    refused = await post_import(acme, import_body(["NEW-1", "ours", "NEW-2", "THEIRS", batch_code.lower()]))
    problem = assert_problem(refused, 409, "code_exists")
    assert error_fields(problem) == ["codes.1", "codes.3", "codes.4"]
    assert [error["msg"] for error in problem["errors"]] == [
        "OURS exists already",
        "THEIRS exists already",
        f"{batch_code} exists already",
    ]
    assert "(and 2 more)" in problem["detail"]
    assert await batches_and_rules(app.state.runtime.sessions) == before  # no batch, no rule, no code
    assert_problem(await acme.redeem("NEW-1", "u-1"), 404, "code_not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (import_body([]), "codes"),
        (import_body(["OK-1", "no way"]), "codes.1"),
        (import_body(["OK-1", "straße"]), "codes.1"),
        (import_body(["X" * 65]), "codes.0"),
        (import_body(["OK-1"], validity="2020-01-01T00:00:00Z"), "validity"),
        (import_body(["OK-1"], rule={"brand": "acme", "discount": 100}), "rule.RuleIn.discount"),
        ({"rule": 1, "codes": ["OK-1"]}, "validity"),
    ],
)
async def test_bad_imports_are_422_naming_the_line(acme: Api, body: dict[str, Any], field: str) -> None:
    problem = assert_problem(await post_import(acme, body), 422, "validation_error", body)
    assert field in error_fields(problem), problem


async def test_an_import_is_for_the_tokens_brand(acme: Api) -> None:
    other_rule = {"brand": "other", "discount": 5}
    assert_problem(await post_import(acme, import_body(["OK-1"], rule=other_rule)), 403, "brand_mismatch")
    assert_problem(
        await acme.client.post(IMPORTS, json=import_body(["OK-1"]), headers=acme.auth.user()), 403, "forbidden"
    )


async def test_a_hundred_thousand_codes_come_in_one_request_and_no_more(acme: Api, app: FastAPI) -> None:
    codes = [f"MOVED-{n:06d}" for n in range(100_000)]
    imported = await post_import(acme, import_body(codes))  # 1.7 MB: above the 1 MiB limit of other bodies
    assert imported.status_code == 201, imported.text[:500]
    assert imported.json()["count"] == 100_000
    too_many = assert_problem(await post_import(acme, import_body([*codes, "ONE-MORE"])), 422, "validation_error")
    assert error_fields(too_many) == ["codes"]
