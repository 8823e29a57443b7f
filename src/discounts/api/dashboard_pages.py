"""The dashboard's pages: the brand's codes, the create form, a code's numbers and uses, rollback, CSV."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import ValidationError

from discounts.api.dashboard_support import DashboardDep, SignedInDep, form_page, posted_form, refused, see_other
from discounts.api.deps import NowDep, RuntimeDep, UnitOfWorkDep
from discounts.api.stats import csv_download
from discounts.codes import service
from discounts.codes.models import DiscountCode
from discounts.codes.schemas import CodeIn
from discounts.dashboard import views
from discounts.dashboard.forms import code_body
from discounts.dashboard.sessions import SignedIn
from discounts.errors import BrandMismatch, CodeNotFound, DiscountsError, UsageNotFound
from discounts.fields import CODE_INPUT_PATTERN
from discounts.notify.progress import fanout_progress
from discounts.usage.browse import browse_codes
from discounts.usage.history import latest_usages, usages_csv
from discounts.usage.ledger import ledger_usage
from discounts.usage.schemas import CodeState
from discounts.usage.service import USAGE_ID_PATTERN, parse_usage_id
from discounts.usage.stats import code_stats

router = APIRouter(prefix="/dashboard", include_in_schema=False)

CodeRef = Annotated[str, Path(pattern=CODE_INPUT_PATTERN)]
UsageRef = Annotated[str, Path(pattern=USAGE_ID_PATTERN)]


async def own_code(uow: UnitOfWorkDep, signed_in: SignedIn, ref: str) -> DiscountCode:
    """One of the brand's codes; another brand's is "no such code" here (not even its existence is told)."""
    try:
        return await service.brand_code(uow.session, signed_in.principal, ref)
    except BrandMismatch:
        raise CodeNotFound(f"no code {ref!r}") from None


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def codes_page(
    uow: UnitOfWorkDep,
    dashboard: DashboardDep,
    signed_in: SignedInDep,
    now: NowDep,
    state: Annotated[CodeState | Literal[""], Query()] = "",
    q: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    created: Annotated[str, Query(max_length=64, pattern=CODE_INPUT_PATTERN)] | None = None,
) -> HTMLResponse:
    result = await browse_codes(uow.session, signed_in.principal, now, state=state or None, search=q.strip(), page=page)

    def page_url(number: int) -> str:
        return "/dashboard/?" + urlencode({k: v for k, v in {"state": state, "q": q, "page": number}.items() if v})

    return dashboard.page(
        "codes.html",
        signed_in=signed_in,
        section="codes",
        result=result,
        state=state,
        q=q,
        page_url=page_url,
        created=created,
    )


@router.get("/codes/new", response_class=HTMLResponse)
async def new_code_page(uow: UnitOfWorkDep, dashboard: DashboardDep, signed_in: SignedInDep) -> HTMLResponse:
    return await form_page(uow, dashboard, signed_in, "new_code.html", "new", {})


@router.post("/codes/new", response_model=None)
async def create_code(
    request: Request, uow: UnitOfWorkDep, dashboard: DashboardDep, signed_in: SignedInDep, now: NowDep
) -> Response:
    """The API's own validation and domain function; its problem details come back next to the fields."""
    form = await posted_form(request, dashboard, signed_in)
    body = code_body(form, signed_in.brand)
    try:
        code = await service.create_code(uow, signed_in.principal, CodeIn.model_validate(body), now)
    except (ValidationError, DiscountsError) as exc:
        problem = await refused(uow, request, form, exc)
        return await form_page(uow, dashboard, signed_in, "new_code.html", "new", form, problem)
    return see_other(f"/dashboard/?{urlencode({'created': code.id})}")


async def _live_context(uow: UnitOfWorkDep, signed_in: SignedIn, ref: str, now: NowDep) -> dict[str, Any]:
    code = await own_code(uow, signed_in, ref)
    stats = await code_stats(uow.session, code, now)
    return {
        "signed_in": signed_in,
        "code": code,
        "stats": stats,
        "charts": views.charts(stats),
        "summaries": views.summaries(stats),
        "fanout": await fanout_progress(uow.session, signed_in.principal, code.id),
        "usages": await latest_usages(uow.session, code.id, now, limit=20),
        "usage_states": views.USAGE_STATES,
    }


@router.get("/codes/{code}/", response_class=HTMLResponse)
async def code_page(
    code: CodeRef,
    uow: UnitOfWorkDep,
    dashboard: DashboardDep,
    signed_in: SignedInDep,
    now: NowDep,
    done: Annotated[Literal["rolled_back"], Query()] | None = None,
) -> HTMLResponse:
    context = await _live_context(uow, signed_in, code, now)
    return dashboard.page("code.html", section="codes", done=done, **context)


@router.get("/codes/{code}/live", response_class=HTMLResponse)
async def live_part(
    code: CodeRef, uow: UnitOfWorkDep, dashboard: DashboardDep, signed_in: SignedInDep, now: NowDep
) -> HTMLResponse:
    """The part of a code's page that changes, polled every few seconds and morphed in place (focus stays)."""
    return dashboard.page("_live.html", **await _live_context(uow, signed_in, code, now))


@router.get("/codes/{code}/usages.csv")
async def usages_export(
    code: CodeRef, uow: UnitOfWorkDep, signed_in: SignedInDep, runtime: RuntimeDep, now: NowDep
) -> StreamingResponse:
    found = await own_code(uow, signed_in, code)
    return StreamingResponse(
        usages_csv(runtime.sessions, found.id, now),
        media_type="text/csv; charset=utf-8",
        headers=csv_download(f"{found.id}-usages.csv"),
    )


@router.get("/codes/{code}/usages/{usage_id}/roll-back", response_class=HTMLResponse)
async def roll_back_page(
    code: CodeRef,
    usage_id: UsageRef,
    uow: UnitOfWorkDep,
    dashboard: DashboardDep,
    signed_in: SignedInDep,
    runtime: RuntimeDep,
    now: NowDep,
) -> HTMLResponse:
    """The confirmation: what the use was, and what rolling it back gives back."""
    found = await own_code(uow, signed_in, code)
    code_id, user, use = parse_usage_id(usage_id)
    usage = await ledger_usage(runtime.sessions, code_id, user, use) if code_id == found.id else None
    if usage is None or not usage.is_active(now):
        raise UsageNotFound("no such use of this code, or it was given back already")
    verb = "Release" if usage.status.value == "held" else "Roll back"
    row = views.usage_row(usage, now)
    return dashboard.page("roll_back.html", signed_in=signed_in, section="codes", code=found, usage=row, verb=verb)


@router.post("/codes/{code}/usages/{usage_id}/roll-back")
async def roll_back(
    code: CodeRef,
    usage_id: UsageRef,
    request: Request,
    uow: UnitOfWorkDep,
    dashboard: DashboardDep,
    signed_in: SignedInDep,
    runtime: RuntimeDep,
) -> Response:
    """The very domain function of ``DELETE /api/v1/discountcodeusage/{id}/``, for the code's brand."""
    await posted_form(request, dashboard, signed_in)
    found = await own_code(uow, signed_in, code)
    if parse_usage_id(usage_id)[0] != found.id:
        raise UsageNotFound("no such use of this code")
    await runtime.redeemer.give_back(signed_in.principal, usage_id)
    return see_other(f"/dashboard/codes/{found.id}/?done=rolled_back")
