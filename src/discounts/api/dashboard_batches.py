"""The dashboard's batches of single-use codes: the list, the form, a batch's live progress, its CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import ValidationError

from discounts.api.dashboard_support import DashboardDep, SignedInDep, form_page, posted_form, refused, see_other
from discounts.api.deps import RuntimeDep, UnitOfWorkDep
from discounts.api.stats import csv_download
from discounts.codes import batches
from discounts.codes.schemas import BATCH_ID_PATTERN, BatchIn, BatchOut
from discounts.dashboard.forms import batch_body
from discounts.dashboard.sessions import SignedIn
from discounts.errors import DiscountsError
from discounts.notify.progress import batch_view

router = APIRouter(prefix="/dashboard", include_in_schema=False)

BatchRef = Annotated[str, Path(pattern=BATCH_ID_PATTERN)]


async def own_batch(uow: UnitOfWorkDep, signed_in: SignedIn, batch_id: str) -> BatchOut:
    """One of the brand's batches as the API shows it; another brand's is not found, as in the API."""
    batch = await batches.get_batch(uow.session, signed_in.principal, batch_id)
    return await batch_view(uow.session, batch)


@router.get("/batches/", response_class=HTMLResponse)
async def batches_page(uow: UnitOfWorkDep, dashboard: DashboardDep, signed_in: SignedInDep) -> HTMLResponse:
    found = await batches.list_batches(uow.session, signed_in.principal)
    items = [await batch_view(uow.session, batch) for batch in found]
    return dashboard.page("batches.html", signed_in=signed_in, section="batches", items=items)


@router.get("/batches/new", response_class=HTMLResponse)
async def new_batch_page(uow: UnitOfWorkDep, dashboard: DashboardDep, signed_in: SignedInDep) -> HTMLResponse:
    return await form_page(uow, dashboard, signed_in, "new_batch.html", "batches", {})


@router.post("/batches/new", response_model=None)
async def create_batch(
    request: Request, uow: UnitOfWorkDep, dashboard: DashboardDep, signed_in: SignedInDep, runtime: RuntimeDep
) -> Response:
    """``POST /api/v1/discountcodebatch/``'s validation and domain function; its problems by their fields."""
    form = await posted_form(request, dashboard, signed_in)
    body = batch_body(form, signed_in.brand)
    try:
        batch = await batches.create_batch(uow, signed_in.principal, BatchIn.model_validate(body), runtime.clock())
    except (ValidationError, DiscountsError) as exc:
        problem = await refused(uow, request, form, exc)
        return await form_page(uow, dashboard, signed_in, "new_batch.html", "batches", form, problem)
    return see_other(f"/dashboard/batches/{batch.id}/")


@router.get("/batches/{batch_id}/", response_class=HTMLResponse)
async def batch_page(
    batch_id: BatchRef, uow: UnitOfWorkDep, dashboard: DashboardDep, signed_in: SignedInDep
) -> HTMLResponse:
    batch = await own_batch(uow, signed_in, batch_id)
    return dashboard.page("batch.html", signed_in=signed_in, section="batches", batch=batch)


@router.get("/batches/{batch_id}/live", response_class=HTMLResponse)
async def batch_live(
    batch_id: BatchRef, uow: UnitOfWorkDep, dashboard: DashboardDep, signed_in: SignedInDep
) -> HTMLResponse:
    """The progress bars, polled every second while the batch is made (or e-mailed), morphed in place."""
    batch = await own_batch(uow, signed_in, batch_id)
    return dashboard.page("_batch_live.html", batch=batch)


@router.get("/batches/{batch_id}/codes.csv")
async def batch_csv(
    batch_id: BatchRef, uow: UnitOfWorkDep, signed_in: SignedInDep, runtime: RuntimeDep
) -> StreamingResponse:
    """The API's own CSV (``code,hash``); before the batch is done, a 409 page (``batch_not_ready``)."""
    batch = await batches.get_batch(uow.session, signed_in.principal, batch_id)
    batches.require_done(batch)
    return StreamingResponse(
        batches.csv_lines(runtime.sessions, batch.id),
        media_type="text/csv; charset=utf-8",
        headers=csv_download(f"codes-{batch.id}.csv"),
    )
