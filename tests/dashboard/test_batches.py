"""The dashboard's batches: made through the API's own validation, watched as they are made, downloaded."""

from __future__ import annotations

import csv
import io
import re

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.codes.generation import generate_step
from discounts.codes.models import DiscountCodeBatch, DiscountRule
from tests.conftest import Api, FakeClock
from tests.dashboard.conftest import Browser, signed_in
from tests.dashboard.test_pages import invalid_fields

FORM = {"validity": "2027-05-31T23:59", "tz": "UTC", "rule": "new", "kind": "percent", "discount": "10"}


async def make(acme: Browser, **fields: str) -> str:
    response = await acme.post("/dashboard/batches/new", {**FORM, **fields})
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/dashboard/batches/([0-9a-f]+)/", response.headers["location"])
    assert found, response.headers["location"]
    return found.group(1)


async def test_a_batch_is_made_watched_and_downloaded(acme: Browser, app: FastAPI, clock: FakeClock) -> None:
    batch = await make(acme, count="50", prefix="spring-", length="8")
    page = await acme.client.get(f"/dashboard/batches/{batch}/")
    assert page.status_code == 200
    assert 'id="batch-progress" value="0" max="50"' in page.text
    assert f'hx-get="/dashboard/batches/{batch}/live"' in page.text  # polled while it is made
    early = await acme.client.get(f"/dashboard/batches/{batch}/codes.csv")
    assert early.status_code == 409
    assert early.headers["content-type"].startswith("text/html")
    runtime = app.state.runtime
    await generate_step(runtime.sessions, batch, clock(), chunk_size=30)  # what the worker does
    halfway = await acme.client.get(f"/dashboard/batches/{batch}/live")
    assert 'id="batch-progress" value="30" max="50"' in halfway.text
    assert "Making codes: 30 of 50 made." in halfway.text
    await generate_step(runtime.sessions, batch, clock(), chunk_size=30)
    done = await acme.client.get(f"/dashboard/batches/{batch}/live")
    assert "Done: 50 of 50 made." in done.text
    assert "hx-get" not in done.text  # nothing left to watch
    assert f'href="/dashboard/batches/{batch}/codes.csv"' in done.text
    download = await acme.client.get(f"/dashboard/batches/{batch}/codes.csv")
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == 50
    assert all(re.fullmatch(r"SPRING-[A-Z2-9]{8}", row["code"]) for row in rows)
    listing = await acme.client.get("/dashboard/batches/")
    assert f"/dashboard/batches/{batch}/" in listing.text
    assert "50 of 50" in listing.text
    codes = await acme.client.get("/dashboard/")
    assert "SPRING-" not in codes.text  # a batch's codes are listed with their batch


async def test_the_apis_errors_show_by_their_fields_and_nothing_is_stored(
    acme: Browser, api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await api.user("u-1")
    await api.user("u-2")
    cases = [
        ({"count": "0"}, {"count"}, "greater than or equal to 1"),
        ({"count": "1000000", "length": "7"}, {"length"}, "use a length of at least"),
        ({"count": "10", "length": "5"}, {"length"}, "greater than or equal to 7"),
        ({"count": "10", "prefix": "P" * 50, "length": "20"}, {"prefix"}, "at most 64 characters"),
        ({"count": "1", "distribute": "yes"}, {"count"}, "needs a code for each"),
        ({"count": "10", "discount": "150"}, {"discount"}, "less than 100"),
        ({"count": "10", "validity": "2020-01-01T00:00"}, {"validity"}, "in the future"),
    ]
    for changes, fields, message in cases:
        page = await acme.post("/dashboard/batches/new", {**FORM, **changes})
        assert page.status_code == 422, changes
        assert invalid_fields(page.text) == fields, (changes, page.text)
        assert message in page.text, (changes, message)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DiscountCodeBatch)) == 0
        assert await session.scalar(select(func.count()).select_from(DiscountRule)) == 0


async def test_another_brands_session_sees_none_of_its_batches(acme: Browser, api: Api, app: FastAPI) -> None:
    batch = await make(acme, count="5")
    await api.brand("other", "promo@other.example")
    other = await signed_in(app, api, "other")
    try:
        listing = await other.client.get("/dashboard/batches/")
        assert batch not in listing.text
        for path in (f"batches/{batch}/", f"batches/{batch}/live", f"batches/{batch}/codes.csv"):
            assert (await other.client.get(f"/dashboard/{path}")).status_code == 404, path
    finally:
        await other.client.aclose()
