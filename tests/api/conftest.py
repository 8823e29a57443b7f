"""Helpers for the black-box tests of the HTTP contract (API.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from discounts.api.app import create_app
from discounts.settings import Settings
from tests.conftest import FakeClock

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
