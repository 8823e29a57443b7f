"""A brand's view of what its codes do: stats, the latest usages, every usage as CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from discounts.api.deps import BrandPrincipal, NowDep, RuntimeDep, UnitOfWorkDep
from discounts.api.problems import problem_responses
from discounts.codes.service import brand_code
from discounts.usage.history import MAX_PAGE, latest_usages, usages_csv
from discounts.usage.schemas import CodeStats, UsagePage
from discounts.usage.stats import DEFAULT_HOURS, MAX_HOURS, code_stats

router = APIRouter(prefix="/api/v1", tags=["stats"])

CodeRef = Annotated[str, Path(max_length=64, description="The code string (any case) or its SHA-256 hash")]
CSV_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"description": "Every usage, oldest first", "content": {"text/csv": {"schema": {"type": "string"}}}}
}


def csv_download(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}


@router.get("/discountcode/{id}/stats/", response_model=CodeStats, responses=problem_responses(403, 404))
async def get_code_stats(
    id: CodeRef,  # noqa: A002 - the contract names it "id"
    uow: UnitOfWorkDep,
    principal: BrandPrincipal,
    now: NowDep,
    hours: Annotated[int, Query(ge=1, le=MAX_HOURS, description="Hours of hourly uses, up to now")] = DEFAULT_HOURS,
) -> CodeStats:
    """What one of the brand's codes has done: uses, holds, give-backs, money, uses per hour and per day.

    Computed from the durable ledger (a second or so behind the redemptions) through its
    per-hour rollup: as fast at a million uses as at one. Another brand's code: 403.
    """
    code = await brand_code(uow.session, principal, id)
    return await code_stats(uow.session, code, now, hours)


@router.get("/discountcode/{id}/usages/", response_model=UsagePage, responses=problem_responses(403, 404))
async def list_code_usages(
    id: CodeRef,  # noqa: A002 - the contract names it "id"
    uow: UnitOfWorkDep,
    principal: BrandPrincipal,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Usages per page")] = 20,
    after: Annotated[
        str | None, Query(max_length=512, pattern=r"^[A-Za-z0-9_-]+$", description="The `next` of the page before")
    ] = None,
) -> UsagePage:
    """One of the brand's codes' usages, newest first (ids to roll back with, through the marketplace)."""
    code = await brand_code(uow.session, principal, id)
    return await latest_usages(uow.session, code.id, now, limit=limit, after=after)


@router.get(
    "/discountcode/{id}/usages/export/",
    response_class=StreamingResponse,
    responses={**CSV_RESPONSE, **problem_responses(403, 404)},
)
async def export_code_usages(
    id: CodeRef,  # noqa: A002 - the contract names it "id"
    uow: UnitOfWorkDep,
    principal: BrandPrincipal,
    now: NowDep,
    runtime: RuntimeDep,
) -> StreamingResponse:
    """Every usage of one of the brand's codes as CSV, oldest first (streamed: any number of usages)."""
    code = await brand_code(uow.session, principal, id)
    return StreamingResponse(
        usages_csv(runtime.sessions, code.id, now),
        media_type="text/csv; charset=utf-8",
        headers=csv_download(f"{code.id}-usages.csv"),
    )
