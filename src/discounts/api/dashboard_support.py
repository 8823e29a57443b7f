"""What the dashboard's routers share: the signed-in brand, the cookie, forms, pages and their errors.

Pages are HTML for people: an error under ``/dashboard`` is a page (with the problem's title and
detail), never a JSON body; everything else keeps its problem details.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.staticfiles import StaticFiles

from discounts.api.deps import RuntimeDep, UnitOfWorkDep
from discounts.api.problems import HTTP_CODES, clean_errors, domain_problem, validation_problem
from discounts.codes import service
from discounts.dashboard import views
from discounts.dashboard.forms import LABELS, FormProblem, parse_form
from discounts.dashboard.links import SignInLinks
from discounts.dashboard.pages import PAGE_HEADERS, STATIC, Pages
from discounts.dashboard.sessions import COOKIE, COOKIE_PATH, DashboardSessions, SignedIn
from discounts.db import UnitOfWork
from discounts.errors import DiscountsError, InvalidInput, RuleNotFound, StaleForm
from discounts.runtime import Runtime

PREFIX = "/dashboard"


class Dashboard:
    """The dashboard's parts, built once per application: templates, link signer, sessions."""

    def __init__(self, runtime: Runtime) -> None:
        self.settings = runtime.settings
        self.pages = Pages()
        self.links = SignInLinks(runtime.settings)
        self.sessions = DashboardSessions(runtime.settings)

    def page(self, name: str, http_status: int = 200, /, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.pages.render(name, **context), status_code=http_status, headers=PAGE_HEADERS)

    def secure(self, request: Request) -> bool:
        """Whether the cookie is sent over HTTPS only: the request came over it, or the public URL is one."""
        return request.url.scheme == "https" or self.settings.public_url.startswith("https://")

    def sign_in_cookie(self, request: Request, response: Response, signed_in: SignedIn) -> None:
        response.set_cookie(
            COOKIE,
            signed_in.secret,
            max_age=int(self.sessions.lifetime.total_seconds()),
            path=COOKIE_PATH,
            secure=self.secure(request),
            httponly=True,
            samesite="strict",
        )

    def sign_out_cookie(self, request: Request, response: Response) -> None:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=self.secure(request), httponly=True, samesite="strict")


def get_dashboard(request: Request, runtime: RuntimeDep) -> Dashboard:
    built: Dashboard | None = getattr(request.app.state, "dashboard", None)
    if built is None:
        built = request.app.state.dashboard = Dashboard(runtime)
    return built


DashboardDep = Annotated[Dashboard, Depends(get_dashboard)]


class SignInNeeded(Exception):
    """No session (never signed in, signed out, or ended): the page says how to get a link."""


async def get_signed_in(request: Request, uow: UnitOfWorkDep, dashboard: DashboardDep, runtime: RuntimeDep) -> SignedIn:
    found = await dashboard.sessions.find(uow.session, request.cookies.get(COOKIE), runtime.clock())
    if found is None:
        raise SignInNeeded()
    return found


SignedInDep = Annotated[SignedIn, Depends(get_signed_in)]


def same_origin(request: Request, dashboard: Dashboard) -> None:
    """A form post from another site is refused even before its CSRF token is looked at.

    Browsers say where a request comes from in ``Sec-Fetch-Site``; older ones only in ``Origin``
    (``null`` under the pages' ``no-referrer`` policy, which tells nothing).
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site not in ("same-origin", "none"):
            raise StaleForm("this form was sent from another site")
        return
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    public = urlsplit(dashboard.settings.public_url)
    allowed = {f"{request.url.scheme}://{request.url.netloc}", f"{public.scheme}://{public.netloc}"}
    if origin not in allowed:
        raise StaleForm("this form was sent from another site")


async def read_form(request: Request, dashboard: Dashboard) -> dict[str, str]:
    same_origin(request, dashboard)
    return parse_form(await request.body())


async def posted_form(request: Request, dashboard: Dashboard, signed_in: SignedIn) -> dict[str, str]:
    """A signed-in form's fields, once its origin and CSRF token are checked."""
    form = await read_form(request, dashboard)
    dashboard.sessions.check_csrf(signed_in, form.get("csrf"))
    return form


async def form_page(
    uow: UnitOfWork,
    dashboard: Dashboard,
    signed_in: SignedIn,
    template: str,
    section: str,
    values: dict[str, str],
    problem: FormProblem | None = None,
) -> HTMLResponse:
    """A create form (a code's, a batch's), with what was typed and the problem it met, if any."""
    rules = await service.list_rules(uow.session, signed_in.principal)
    return dashboard.page(
        template,
        422 if problem else 200,
        signed_in=signed_in,
        section=section,
        values=values,
        problem=problem,
        labels=LABELS,
        rules=[views.rule_choice(rule) for rule in rules],
    )


async def refused(
    uow: UnitOfWork, request: Request, form: dict[str, str], exc: ValidationError | DiscountsError
) -> FormProblem:
    """The API's own problem details for a refused form, by field; nothing the refused request made stays."""
    await uow.session.rollback()  # e.g. a rule made before the code was refused
    if isinstance(exc, RuleNotFound):  # the API's 404 for a rule id that names nothing: the form's rule field
        exc = InvalidInput("rule", exc.detail)
    if isinstance(exc, ValidationError):
        body = validation_problem([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()], request.url.path)
    else:
        body = domain_problem(exc, request.url.path)
    return FormProblem.of(body, form)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)


def is_dashboard(request: Request) -> bool:
    path: str = request.scope["path"]
    return path == PREFIX or path.startswith(PREFIX + "/")


def page_methods(routers: list[APIRouter], request: Request) -> list[str]:
    """Every method the dashboard answers at this path (its pages are not in the OpenAPI document)."""
    methods: set[str] = set()
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.matches(request.scope)[0] is not Match.NONE:
                methods |= route.methods or set()
    return sorted(methods)


def install(app: FastAPI, routers: list[APIRouter]) -> None:
    """Pages for the dashboard's errors, its static files; the API's handlers for everything else."""
    app.mount(f"{PREFIX}/static", StaticFiles(directory=Path(STATIC)), name="dashboard-static")
    handlers = dict(app.exception_handlers)

    def error_page(request: Request, status: int, title: str, detail: str, headers: Any = None) -> Response:
        dashboard = get_dashboard(request, request.app.state.runtime)
        signed_in = request.cookies.get(COOKIE) is not None
        page = dashboard.page("error.html", status, title=title, detail=detail, status=status, signed_in=signed_in)
        page.headers.update(headers or {})  # a 405's Allow
        return page

    async def domain(request: Request, exc: Exception) -> Response:
        if not is_dashboard(request):
            return await handlers[DiscountsError](request, exc)
        assert isinstance(exc, DiscountsError)
        return error_page(request, exc.status, exc.title, exc.detail)

    async def http(request: Request, exc: Exception) -> Response:
        if not is_dashboard(request):
            return await handlers[HTTPException](request, exc)
        assert isinstance(exc, HTTPException)
        title = HTTP_CODES.get(exc.status_code, "error").replace("_", " ").capitalize()
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names the first matching route's methods only
            headers["Allow"] = ", ".join(page_methods(routers, request))
        return error_page(request, exc.status_code, title, str(exc.detail), headers)

    async def invalid(request: Request, exc: Exception) -> Response:
        if not is_dashboard(request):
            return await handlers[RequestValidationError](request, exc)
        assert isinstance(exc, RequestValidationError)
        errors = clean_errors(exc.errors())
        detail = "; ".join(f"{'.'.join(e['loc'][1:])}: {e['msg']}" for e in errors[:5])
        return error_page(request, 422, "Invalid request", detail)

    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        dashboard = get_dashboard(request, request.app.state.runtime)
        response = dashboard.page("signed_out.html", 401, reason="needed")
        dashboard.sign_out_cookie(request, response)
        return response

    app.add_exception_handler(DiscountsError, domain)
    app.add_exception_handler(HTTPException, http)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(SignInNeeded, sign_in_needed)
