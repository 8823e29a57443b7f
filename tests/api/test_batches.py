"""API.md part 2, "Bulk single-use codes": batches through the HTTP API (the generation run in-process)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from fastapi import FastAPI

from discounts.codes.generation import ALPHABET
from tests.api.conftest import (
    BATCHES,
    assert_problem,
    batch_body,
    batches_and_rules,
    csv_rows,
    error_fields,
    generated_batch,
    post_batch,
)
from tests.codes.conftest import batch_places, generate_all
from tests.conftest import Api, FakeClock


async def test_a_batch_is_accepted_then_grows_to_exactly_count_unique_codes(
    acme: Api, app: FastAPI, clock: FakeClock
) -> None:
    created = await post_batch(acme, batch_body(count=25, prefix="spring-"))
    assert created.status_code == 202, created.text
    body = created.json()
    assert {k: body[k] for k in ("status", "count", "generated")} == {"status": "queued", "count": 25, "generated": 0}
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    assert created.headers["location"] == f"{BATCHES}{body['id']}/"
    assert (body["prefix"], body["length"], body["kind"], body["distribute"]) == ("SPRING-", 12, "generated", False)
    assert body["rule"]["max_uses"] == 1  # an inline rule is single-use unless it says otherwise
    sessions = app.state.runtime.sessions

    from discounts.codes.generation import generate_step

    await generate_step(sessions, body["id"], clock(), chunk_size=10)
    halfway = (await acme.client.get(f"{BATCHES}{body['id']}/", headers=acme.auth.brand())).json()
    assert (halfway["status"], halfway["generated"]) == ("generating", 10)
    await generate_all(sessions, body["id"], clock, chunk_size=10)
    done = (await acme.client.get(f"{BATCHES}{body['id']}", headers=acme.auth.brand())).json()
    assert (done["status"], done["generated"], done["finished_at"]) == ("done", 25, "2026-01-15T12:00:00Z")

    rows = await csv_rows(acme, body["id"])
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes)) == 25
    pattern = re.compile(f"SPRING-[{ALPHABET}]{{12}}")
    assert all(pattern.fullmatch(code) for code in codes), codes
    assert all(row["hash"] == hashlib.sha256(row["code"].encode()).hexdigest() for row in rows)
    assert await batch_places(sessions, body["id"]) == list(range(1, 26))


async def test_each_batch_code_fetches_quotes_and_redeems_once_in_total(
    acme: Api, app: FastAPI, clock: FakeClock
) -> None:
    batch = await generated_batch(acme, app, clock, count=3)
    first, second, _ = (row["code"] for row in await csv_rows(acme, batch["id"]))
    fetched = await acme.client.get(f"/api/v1/discountcode/{first.lower()}/", headers=acme.auth.user("u-1"))
    assert (fetched.status_code, fetched.json()["used"], fetched.json()["rule"]["max_uses"]) == (200, False, 1)
    quote = {"code": first, "user": "u-1", "amount": "100.00"}
    quoted = await acme.client.post("/api/v1/discountcodequote/", json=quote, headers=acme.auth.user("u-1"))
    assert quoted.json()["amount_to_pay"] == "85.00"
    assert (await acme.redeem(first, "u-1", amount="100.00")).status_code == 201
    assert_problem(await acme.redeem(first, "u-1"), 409, "code_already_used")
    assert_problem(await acme.redeem(first, "u-2"), 409, "code_exhausted")  # once in total, not once per user
    assert (await acme.redeem(second, "u-2")).status_code == 201


async def test_a_batch_on_an_existing_rule_takes_that_rule_as_it_is(acme: Api, app: FastAPI, clock: FakeClock) -> None:
    rule = await acme.client.post(
        "/api/v1/discountrule/", json={"brand": "acme", "discount": 5, "max_uses": 2}, headers=acme.auth.brand()
    )
    batch = await generated_batch(acme, app, clock, count=2, rule=rule.json()["id"])
    assert batch["rule"] == rule.json()
    code = (await csv_rows(acme, batch["id"]))[0]["code"]
    assert [(await acme.redeem(code, user)).status_code for user in ("u-1", "u-2", "u-3")] == [201, 201, 409]
    unlimited = await acme.client.post(
        "/api/v1/discountrule/", json={"brand": "acme", "discount": 5}, headers=acme.auth.brand()
    )
    assert (await generated_batch(acme, app, clock, count=1, rule=unlimited.json()["id"]))["rule"]["max_uses"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": 1_000_001}, "count"),
        ({"count": "5"}, "count"),
        ({"count": 1.0}, "count"),
        ({"length": 6}, "length"),
        ({"length": 65}, "length"),
        ({"count": 1_000_000, "length": 10}, "length"),  # 31^10 < 10^9 × 10^6
        ({"count": 30, "length": 7}, "length"),
        ({"prefix": "straße"}, "prefix"),
        ({"prefix": "A B"}, "prefix"),
        ({"prefix": "X" * 58}, "prefix"),
        ({"prefix": "X" * 53}, "prefix"),  # 53 + the default 12 > 64
        ({"distribute": "yes"}, "distribute"),
        ({"validity": "2020-01-01T00:00:00Z"}, "validity"),
        ({"validity": "2027-05-31T23:59:59"}, "validity"),
        ({"rule": {"brand": "acme"}}, "rule.discount"),
        ({"rule": 999}, "rule"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_batches_are_422_naming_the_field_and_change_nothing(
    acme: Api, app: FastAPI, change: dict[str, Any], field: str
) -> None:
    sessions = app.state.runtime.sessions
    before = await batches_and_rules(sessions)
    body = assert_problem(await post_batch(acme, batch_body() | change), 422, "validation_error", change)
    assert field in error_fields(body), (change, body)
    assert await batches_and_rules(sessions) == before


async def test_the_shortest_length_for_a_count_is_accepted(acme: Api) -> None:
    assert (await post_batch(acme, batch_body(count=1, length=7))).status_code == 202
    assert (await post_batch(acme, batch_body(count=1_000_000, length=11))).status_code == 202
    assert (await post_batch(acme, batch_body(count=10, prefix="X" * 52))).status_code == 202


async def test_only_a_brand_makes_batches_for_itself(acme: Api, app: FastAPI) -> None:
    assert_problem(
        await post_batch(acme, batch_body() | {"rule": {"brand": "other", "discount": 5}}), 403, "brand_mismatch"
    )
    others = await acme.client.post(
        "/api/v1/discountrule/", json={"brand": "other", "discount": 5}, headers=acme.auth.brand("other")
    )
    assert_problem(await post_batch(acme, batch_body() | {"rule": others.json()["id"]}), 403, "brand_mismatch")
    refused = await acme.client.post(BATCHES, json=batch_body(), headers=acme.auth.user())
    assert_problem(refused, 403, "forbidden")
    assert (await batches_and_rules(app.state.runtime.sessions))[0] == 0


async def test_distributing_needs_a_code_for_each_user_of_the_audience(acme: Api) -> None:
    for n in range(3):
        await acme.user(f"u-{n}", group="vip" if n else None)
    refused = assert_problem(await post_batch(acme, batch_body(count=2, distribute=True)), 422, "validation_error")
    assert error_fields(refused) == ["count"]
    assert "3 users" in refused["detail"]
    vip = batch_body(count=2, distribute=True) | {"rule": {"brand": "acme", "discount": 15, "group": "vip"}}
    accepted = await post_batch(acme, vip)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["distribution"] == {"status": "queued", "total": None, "sent": 0, "failed": 0, "skipped": 0}
    assert (await post_batch(acme, batch_body(count=2))).json()["distribution"] is None


async def test_another_brands_batch_is_not_found(acme: Api, app: FastAPI, clock: FakeClock) -> None:
    batch = await generated_batch(acme, app, clock, count=2)
    other = acme.auth.brand("other")
    for path in (f"{BATCHES}{batch['id']}/", f"{BATCHES}{batch['id']}/codes.csv", f"{BATCHES}{'0' * 32}/"):
        assert_problem(
            await acme.client.get(path, headers=other if "0000" not in path else acme.auth.brand()),
            404,
            "batch_not_found",
        )
    assert_problem(await acme.client.get(f"{BATCHES}not-an-id/", headers=acme.auth.brand()), 422, "validation_error")
    assert (await acme.client.get(BATCHES, headers=other)).json() == []


async def test_the_csv_waits_until_the_batch_is_done(acme: Api, app: FastAPI, clock: FakeClock) -> None:
    created = (await post_batch(acme, batch_body(count=15))).json()
    path = f"{BATCHES}{created['id']}/codes.csv"
    problem = assert_problem(await acme.client.get(path, headers=acme.auth.brand()), 409, "batch_not_ready")
    assert "queued" in problem["detail"]
    from discounts.codes.generation import generate_step

    await generate_step(app.state.runtime.sessions, created["id"], clock(), chunk_size=10)
    assert (
        "10 of 15"
        in assert_problem(await acme.client.get(path, headers=acme.auth.brand()), 409, "batch_not_ready")["detail"]
    )
    await generate_all(app.state.runtime.sessions, created["id"], clock)
    assert len(await csv_rows(acme, created["id"])) == 15


async def test_a_brand_lists_its_batches_newest_first_and_its_codes_without_them(
    acme: Api, app: FastAPI, clock: FakeClock
) -> None:
    await acme.code("PLAIN")
    first = await generated_batch(acme, app, clock, count=3)
    clock.advance(minutes=1)
    second = (await post_batch(acme, batch_body(count=4))).json()
    listed = (await acme.client.get(BATCHES, headers=acme.auth.brand())).json()
    assert [(b["id"], b["generated"]) for b in listed] == [(second["id"], 0), (first["id"], 3)]
    codes = (await acme.client.get("/api/v1/discountcode/", headers=acme.auth.brand())).json()
    assert [code["id"] for code in codes] == ["PLAIN"]  # a batch's codes are in its CSV, not in this list


async def test_a_retried_batch_request_makes_one_batch(acme: Api, app: FastAPI) -> None:
    headers = {**acme.auth.brand(), "Idempotency-Key": "batch-1"}
    first = await acme.client.post(BATCHES, json=batch_body(), headers=headers)
    again = await acme.client.post(BATCHES, json=batch_body(), headers=headers)
    assert (first.status_code, again.status_code, again.headers["idempotent-replayed"]) == (202, 202, "true")
    assert first.json() == again.json()
    assert (await batches_and_rules(app.state.runtime.sessions))[0] == 1
