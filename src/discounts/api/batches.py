"""Bulk single-use codes: batches generated in the background, their CSV, imports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from fastapi.responses import StreamingResponse

from discounts.api.deps import BrandPrincipal, NowDep, RuntimeDep, UnitOfWorkDep
from discounts.api.idempotency import HEADER_PARAMETER
from discounts.api.problems import problem_responses
from discounts.codes import batches
from discounts.codes.imports import import_codes
from discounts.codes.schemas import BATCH_ID_PATTERN, BatchIn, BatchOut, ImportIn
from discounts.notify.progress import batch_view

router = APIRouter(prefix="/api/v1", tags=["batches"])

BatchId = Annotated[str, Path(pattern=BATCH_ID_PATTERN, description="The batch's id")]


class CSVResponse(StreamingResponse):
    media_type = "text/csv"


CSV: dict[str, Any] = {
    "description": "`code,hash`, then one line per code",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


def _located(response: Response, batch_id: str) -> None:
    response.headers["Location"] = f"/api/v1/discountcodebatch/{batch_id}/"


@router.post(
    "/discountcodebatch/",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchOut,
    responses=problem_responses(404),
    openapi_extra={"parameters": [HEADER_PARAMETER]},
)
async def create_batch(
    body: BatchIn, uow: UnitOfWorkDep, principal: BrandPrincipal, now: NowDep, response: Response
) -> BatchOut:
    """Generate ``count`` single-use codes in the background; watch ``generated`` grow at ``Location``."""
    batch = await batches.create_batch(uow, principal, body, now)
    _located(response, batch.id)
    return await batch_view(uow.session, batch)


@router.get("/discountcodebatch/", response_model=list[BatchOut])
async def list_batches(uow: UnitOfWorkDep, principal: BrandPrincipal) -> list[BatchOut]:
    """The token's brand's batches (generated and imported), newest first."""
    found = await batches.list_batches(uow.session, principal)
    return [await batch_view(uow.session, batch) for batch in found]


@router.get("/discountcodebatch/{id}/", response_model=BatchOut, responses=problem_responses(404))
async def get_batch(
    id: BatchId,  # noqa: A002 - the contract names it "id"
    uow: UnitOfWorkDep,
    principal: BrandPrincipal,
) -> BatchOut:
    """A batch and how far it has got; another brand's is 404."""
    return await batch_view(uow.session, await batches.get_batch(uow.session, principal, id))


@router.get(
    "/discountcodebatch/{id}/codes.csv",
    response_class=CSVResponse,
    responses={**problem_responses(404, 409), 200: CSV},
)
async def batch_csv(
    id: BatchId,  # noqa: A002 - the contract names it "id"
    uow: UnitOfWorkDep,
    principal: BrandPrincipal,
    runtime: RuntimeDep,
) -> CSVResponse:
    """The batch's codes as CSV, streamed (``batch_not_ready`` until it is ``done``)."""
    batch = await batches.get_batch(uow.session, principal, id)
    batches.require_done(batch)
    lines = batches.csv_lines(runtime.sessions, batch.id)
    disposition = f'attachment; filename="codes-{batch.id}.csv"'
    return CSVResponse(
        (text.encode() async for text in lines),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": disposition},
    )


@router.post(
    "/discountcodeimport/",
    status_code=status.HTTP_201_CREATED,
    response_model=BatchOut,
    responses=problem_responses(404, 409),
)
async def import_batch(
    body: ImportIn, uow: UnitOfWorkDep, principal: BrandPrincipal, now: NowDep, response: Response
) -> BatchOut:
    """Import up to 100,000 existing codes as a batch, all or none: each refused code is listed in ``errors``."""
    batch = await import_codes(uow, principal, body.rule, body.validity, body.codes, now)
    _located(response, batch.id)
    return await batch_view(uow.session, batch)
