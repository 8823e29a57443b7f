"""One-time sign-in links, the session cookie, CSRF tokens and signing out."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.dashboard.models import DashboardSession
from discounts.notify.unsubscribe import UnsubscribeTokens
from discounts.settings import Settings
from tests.api.conftest import assert_problem, serve
from tests.conftest import Api, FakeClock
from tests.dashboard.conftest import Browser, mint, signed_in, token_of


async def test_a_link_signs_in_once_in_every_process(
    app: FastAPI, api: Api, settings: Settings, clock: FakeClock
) -> None:
    await api.brand()
    link = await mint(api)
    assert link.status_code == 201, link.text
    body = link.json()
    assert body["brand"] == "acme"
    assert body["url"].startswith(settings.public_url + "/dashboard/sign-in?token=")
    assert body["expires_at"] == "2026-01-15T12:15:00Z"  # DISCOUNTS_DASHBOARD_LINK_SECONDS, 15 minutes
    token = token_of(body["url"])
    for _ in range(2):  # opening the link (a scanner does too) spends nothing
        page = await api.client.get("/dashboard/sign-in", params={"token": token})
        assert page.status_code == 200
        assert 'name="token"' in page.text
        assert "Sign in to acme" in page.text
    signed = await api.client.post("/dashboard/sign-in", data={"token": token})
    assert (signed.status_code, signed.headers["location"]) == (303, "/dashboard/")
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("discounts_dashboard=")
    assert {"HttpOnly", "Path=/dashboard", "SameSite=strict"} <= {part.strip() for part in cookie.split(";")}
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test
    again = await api.client.post("/dashboard/sign-in", data={"token": token})
    assert again.status_code == 404
    assert "used already" in again.text
    async with serve(settings, clock) as other_process:  # another API process, the same database
        elsewhere = await other_process.post("/dashboard/sign-in", data={"token": token})
        assert elsewhere.status_code == 404
        assert "used already" in elsewhere.text


async def test_bad_links_are_refused(api: Api, settings: Settings, clock: FakeClock) -> None:
    await api.brand()
    assert_problem(await mint(api, "nosuch"), 404, "brand_not_found")
    assert_problem(
        await api.client.post("/api/v1/dashboardlink/", json={"brand": "acme"}, headers=api.auth.brand()),
        403,
        "forbidden",
    )
    assert_problem(await mint(api, ttl_seconds=10), 422, "validation_error")
    token = token_of((await mint(api, ttl_seconds=60)).json()["url"])
    unsubscribe = UnsubscribeTokens(settings).mint("u-1")
    for bad in (token[:-3] + "abc", unsubscribe, "", "x" * 100):
        response = await api.client.post("/dashboard/sign-in", data={"token": bad})
        assert response.status_code == 404, bad
        assert response.headers["content-type"].startswith("text/html")
    # a sign-in link is no API token, and an API token no sign-in link
    assert_problem(
        await api.client.get("/api/v1/discountcode/", headers={"Authorization": f"Bearer {token}"}),
        401,
        "unauthenticated",
    )
    api_token = api.auth.brand()["Authorization"].split()[1]
    assert (await api.client.post("/dashboard/sign-in", data={"token": api_token})).status_code == 404
    clock.advance(seconds=61)
    expired = await api.client.post("/dashboard/sign-in", data={"token": token})
    assert expired.status_code == 404
    assert "expired" in expired.text


async def test_the_cookie_is_secure_over_https(app: FastAPI, api: Api) -> None:
    await api.brand()
    browser = await signed_in(app, api, base_url="https://test")
    try:
        link = await mint(api)
        response = await browser.client.post("/dashboard/sign-in", data={"token": token_of(link.json()["url"])})
        assert "Secure" in {part.strip() for part in response.headers["set-cookie"].split(";")}
    finally:
        await browser.client.aclose()


async def test_forms_need_the_sessions_csrf_token_and_this_site(
    acme: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    form = {"id": "NOCSRF", "validity": "2027-01-01T00:00", "discount": "10"}
    for data, headers in (
        (form, {}),
        ({**form, "csrf": "0" * 64}, {}),
        ({**form, "csrf": acme.csrf}, {"Sec-Fetch-Site": "cross-site"}),
        ({**form, "csrf": acme.csrf}, {"Origin": "https://evil.example"}),
    ):
        response = await acme.client.post("/dashboard/codes/new", data=data, headers=headers)
        assert response.status_code == 403, (data, headers)
        assert "out of date" in response.text
    listed = await acme.client.get("/dashboard/")
    assert "NOCSRF" not in listed.text
    refused = await acme.client.post("/dashboard/sign-out", data={})
    assert refused.status_code == 403
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DashboardSession)) == 1


async def test_signing_out_ends_the_session_on_the_server(
    acme: Browser, app: FastAPI, sessions: async_sessionmaker[AsyncSession]
) -> None:
    cookie = acme.client.cookies["discounts_dashboard"]
    out = await acme.post("/dashboard/sign-out")
    assert (out.status_code, out.headers["location"]) == (303, "/dashboard/signed-out")
    assert 'discounts_dashboard=""' in out.headers["set-cookie"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DashboardSession)) == 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as stolen:
        stolen.cookies.set("discounts_dashboard", cookie, path="/dashboard")
        page = await stolen.get("/dashboard/")
        assert page.status_code == 401
        assert "Sign-in needed" in page.text


async def test_a_session_ends_by_itself(acme: Browser, clock: FakeClock) -> None:
    assert (await acme.client.get("/dashboard/")).status_code == 200
    clock.advance(hours=8)
    assert (await acme.client.get("/dashboard/")).status_code == 401
