"""Signing in to the dashboard with a one-time link, and out again; the API operation that mints links."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from discounts.api.dashboard_support import DashboardDep, SignedInDep, posted_form, read_form, see_other
from discounts.api.deps import NowDep, ServicePrincipal, UnitOfWorkDep
from discounts.api.problems import problem_responses
from discounts.dashboard.links import mint_link, use_link
from discounts.dashboard.schemas import SignInLinkIn, SignInLinkOut

router = APIRouter(tags=["dashboard"])
pages = APIRouter(prefix="/dashboard", include_in_schema=False)

Token = Annotated[str, Query(max_length=2048)]


@router.post(
    "/api/v1/dashboardlink/",
    status_code=status.HTTP_201_CREATED,
    response_model=SignInLinkOut,
    responses=problem_responses(404),
)
async def create_sign_in_link(
    body: SignInLinkIn, uow: UnitOfWorkDep, principal: ServicePrincipal, now: NowDep, dashboard: DashboardDep
) -> SignInLinkOut:
    """A one-time link that signs a brand in to its dashboard (hand it to the brand; it works once).

    The marketplace's back end asks for it where the brand is already signed in with the
    marketplace, so a brand never handles a raw API token. The brand must be registered (422).
    """
    ttl = None if body.ttl_seconds is None else timedelta(seconds=body.ttl_seconds)
    link = await mint_link(uow.session, dashboard.links, body.brand, now, ttl)
    return SignInLinkOut(url=link.url, brand=link.brand, expires_at=link.expires_at)


@pages.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(dashboard: DashboardDep, now: NowDep, token: Token = "") -> HTMLResponse:
    """A page with a button: opening the link spends nothing (mail and chat scanners open links too)."""
    claims = dashboard.links.read(token, now)  # a bad link: the error page says to ask for a new one
    return dashboard.page("sign_in.html", brand=claims.brand, token=token, expires_at=claims.expires_at)


@pages.post("/sign-in")
async def sign_in(request: Request, uow: UnitOfWorkDep, dashboard: DashboardDep, now: NowDep) -> Response:
    """Spend the link, open a session (the cookie), and go to the brand's codes."""
    form = await read_form(request, dashboard)
    brand = await use_link(uow.session, dashboard.links, form.get("token", ""), now)
    signed_in = await dashboard.sessions.open(uow.session, brand, now)
    response = see_other("/dashboard/")
    dashboard.sign_in_cookie(request, response, signed_in)
    return response


@pages.post("/sign-out")
async def sign_out(request: Request, uow: UnitOfWorkDep, dashboard: DashboardDep, signed_in: SignedInDep) -> Response:
    """End the session on the server (the cookie alone opens nothing after this) and drop the cookie."""
    await posted_form(request, dashboard, signed_in)
    await dashboard.sessions.close(uow.session, signed_in)
    response = see_other("/dashboard/signed-out")
    dashboard.sign_out_cookie(request, response)
    return response


@pages.get("/signed-out", response_class=HTMLResponse)
async def signed_out(dashboard: DashboardDep) -> HTMLResponse:
    return dashboard.page("signed_out.html", reason="signed_out")
