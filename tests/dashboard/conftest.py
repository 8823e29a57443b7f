"""Signing in to the dashboard as a browser would: a link from the API, the button, the cookie."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Api, Auth
from tests.webhooks.conftest import receiver  # a live receiver for the Webhooks page's endpoints
from tests.webhooks.test_delivery import pipeline  # the worker's steps, to deliver events to it

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def mint(api: Api, brand: str = "acme", **body: object) -> httpx.Response:
    return await api.client.post("/api/v1/dashboardlink/", json={"brand": brand, **body}, headers=api.auth.service())


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


class Browser:
    """A signed-in brand: its own client (its own cookie jar) on the same app, and its forms' CSRF token."""

    def __init__(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.client, self.csrf = client, csrf

    async def post(self, path: str, data: dict[str, str] | None = None, **kwargs: object) -> httpx.Response:
        return await self.client.post(path, data={"csrf": self.csrf, **(data or {})}, **kwargs)  # type: ignore[arg-type]


async def signed_in(app: FastAPI, api: Api, brand: str = "acme", base_url: str = "http://test") -> Browser:
    link = await mint(api, brand)
    assert link.status_code == 201, link.text
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
    response = await client.post("/dashboard/sign-in", data={"token": token_of(link.json()["url"])})
    assert response.status_code == 303, response.text
    page = await client.get("/dashboard/")
    assert page.status_code == 200, page.text
    return Browser(client, csrf_of(page))


@pytest.fixture
async def acme(app: FastAPI, api: Api) -> AsyncIterator[Browser]:
    await api.brand()
    browser = await signed_in(app, api)
    yield browser
    await browser.client.aclose()


__all__ = ["Api", "Auth", "Browser", "csrf_of", "mint", "pipeline", "receiver", "signed_in", "token_of"]
