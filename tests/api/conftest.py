"""Helpers for the black-box tests of the HTTP contract (API.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.api.app import create_app
from discounts.codes.models import DiscountCodeBatch, DiscountRule
from discounts.settings import Settings
from tests.codes.conftest import count_codes, generate_all
from tests.conftest import Api, FakeClock

PROBLEM_MEDIA_TYPE = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str, case: object = None) -> dict[str, Any]:
    """An RFC 9457 problem with the contract's members, the expected status and ``code``.

    ``case`` names the input in the failure message when one test loops over many.
    """
    assert response.status_code == status, (case, response.text)
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE, case
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), (case, body)
    assert (body["status"], body["code"]) == (status, code), (case, body)
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str), (case, body)
        assert body[member], (case, body)
    return body


def percent_rule(rule_id: int, discount: int, brand: str = "acme", group: str | None = None) -> dict[str, Any]:
    """A rule as the API returns it: every field, the unset ones null, one use per user."""
    return {
        "id": rule_id,
        "brand": brand,
        "discount": discount,
        "amount_off": None,
        "currency": None,
        "min_amount": None,
        "starts_at": None,
        "max_uses": None,
        "max_uses_per_user": 1,
        "budget": None,
        "group": group,
        "products": None,
        "categories": None,
        "stackable": False,
        "priority": 100,
    }


def error_fields(body: dict[str, Any]) -> list[str]:
    """The dotted field paths a validation problem lists (without the leading ``body``)."""
    return [".".join(str(part) for part in error["loc"][1:]) for error in body["errors"]]


@asynccontextmanager
async def serve(settings: Settings, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app built with other settings than the ``app`` fixture's."""
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


BATCH_VALIDITY = "2027-05-31T23:59:59Z"
BATCHES = "/api/v1/discountcodebatch/"


def batch_body(count: int = 25, **extra: Any) -> dict[str, Any]:
    return {"rule": {"brand": "acme", "discount": 15}, "validity": BATCH_VALIDITY, "count": count, **extra}


async def post_batch(api: Api, body: dict[str, Any], brand: str = "acme") -> httpx.Response:
    return await api.client.post(BATCHES, json=body, headers=api.auth.brand(brand))


async def generated_batch(api: Api, app: FastAPI, clock: FakeClock, **body: Any) -> dict[str, Any]:
    """A batch accepted by the API and generated to the end, as its worker would."""
    created = await post_batch(api, batch_body(**body))
    assert created.status_code == 202, created.text
    batch_id = created.json()["id"]
    await generate_all(app.state.runtime.sessions, batch_id, clock, chunk_size=10)
    fetched = await api.client.get(f"{BATCHES}{batch_id}/", headers=api.auth.brand())
    assert fetched.json()["status"] == "done", fetched.text
    return fetched.json()  # type: ignore[no-any-return]


async def csv_rows(api: Api, batch_id: str) -> list[dict[str, str]]:
    response = await api.client.get(f"{BATCHES}{batch_id}/codes.csv", headers=api.auth.brand())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text.startswith("code,hash\r\n")
    return list(csv.DictReader(io.StringIO(response.text)))


@pytest.fixture
async def acme(api: Api) -> Api:
    """The API with two brands registered, acme and other."""
    await api.brand("acme")
    await api.brand("other", "promo@other.example")
    return api


async def batches_and_rules(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with sessions() as session:
        batches = await session.scalar(select(func.count()).select_from(DiscountCodeBatch))
        rules = await session.scalar(select(func.count()).select_from(DiscountRule))
    return int(batches or 0), int(rules or 0), await count_codes(sessions)
