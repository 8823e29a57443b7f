from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from discounts.api.codes import CodeRef
from discounts.api.deps import BrandPrincipal, NowDep, RuntimeDep, UnitOfWorkDep
from discounts.api.problems import problem_responses
from discounts.errors import DiscountsError, InvalidLink, NotFound
from discounts.notify import unsubscribe as unsubscribing
from discounts.notify.messages import MessageRenderer
from discounts.notify.progress import fanout_progress
from discounts.notify.schemas import FanoutProgress
from discounts.notify.unsubscribe import UnsubscribeTokens

router = APIRouter(prefix="/api/v1", tags=["notifications"])

#: A JWT (three base64url parts); one that does not verify is a 404 ``invalid_link``, like an unknown page.
TOKEN_PATTERN = r"^([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?$"
Token = Annotated[
    str,
    Query(
        max_length=2048,
        description="The signed token from the e-mail's link",
        json_schema_extra={"pattern": TOKEN_PATTERN},
    ),
]

#: The pages load nothing from anywhere, and the token in the URL never leaks through a Referer.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
HTML_PAGE: dict[str, object] = {"content": {"text/html": {}}}


def page_or_problem(status: int) -> dict[str, Any]:
    """People get a page; API clients (no ``text/html`` in Accept) get problem details."""
    response = problem_responses(status)[status]
    return {**response, "content": {"text/html": {}, **response["content"]}}


PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {200: HTML_PAGE, 404: page_or_problem(404)}

#: RFC 8058 one-click posts are form-encoded (``List-Unsubscribe=One-Click``), not JSON.
FORM_PATHS = ("/api/v1/unsubscribe",)


@router.get("/discountcode/{id}/notifications/", response_model=FanoutProgress, responses=problem_responses(404))
async def get_fanout_progress(
    id: CodeRef,  # noqa: A002 - the contract names it "id"
    uow: UnitOfWorkDep,
    principal: BrandPrincipal,
) -> FanoutProgress:
    """How far the e-mailing of one of the brand's codes has got: queued, sending or done, with counts."""
    return await fanout_progress(uow.session, principal, id)


class UnsubscribePages:
    """The token signer and the page templates, built once per application."""

    def __init__(self, runtime: RuntimeDep) -> None:
        self.tokens = UnsubscribeTokens(runtime.settings)
        self.renderer = MessageRenderer(runtime.settings, self.tokens, "")

    def page(self, name: str, status: int = 200, **context: object) -> HTMLResponse:
        return HTMLResponse(self.renderer.page(name, **context), status_code=status, headers=PAGE_HEADERS)

    def error(self, request: Request, exc: DiscountsError) -> HTMLResponse:
        """A readable page for people; API clients (no ``text/html`` in Accept) get problem details."""
        if "text/html" not in request.headers.get("accept", ""):
            raise exc
        return self.page("unsubscribe_invalid.html", exc.status, detail=exc.detail)


def pages(request: Request, runtime: RuntimeDep) -> UnsubscribePages:
    built: UnsubscribePages | None = getattr(request.app.state, "unsubscribe_pages", None)
    if built is None:
        built = request.app.state.unsubscribe_pages = UnsubscribePages(runtime)
    return built


@router.get("/unsubscribe/", response_class=HTMLResponse, responses=PAGE_RESPONSES)
async def unsubscribe_page(
    request: Request, uow: UnitOfWorkDep, runtime: RuntimeDep, token: Token = ""
) -> HTMLResponse:
    """A confirmation page with a button; opening the link changes nothing (scanners open links too)."""
    site = pages(request, runtime)
    try:
        user = await unsubscribing.subscriber(uow.session, site.tokens, token)
    except (InvalidLink, NotFound) as exc:
        return site.error(request, exc)
    action = f"{request.url.path}?{request.url.query}"
    return site.page("unsubscribe_confirm.html", email=user.email, action=action)


@router.post("/unsubscribe/", response_class=HTMLResponse, responses=PAGE_RESPONSES)
async def unsubscribe(
    request: Request, uow: UnitOfWorkDep, runtime: RuntimeDep, now: NowDep, token: Token = ""
) -> HTMLResponse:
    """RFC 8058 one-click unsubscribe (body ``List-Unsubscribe=One-Click``); the page's button posts here too."""
    site = pages(request, runtime)
    try:
        user = await unsubscribing.unsubscribe(uow.session, site.tokens, token, now)
    except (InvalidLink, NotFound) as exc:
        return site.error(request, exc)
    return site.page("unsubscribe_done.html", email=user.email)
