"""The redemption route: the hot path of a flash sale, kept lean (see ``api/bodies.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from discounts import metrics
from discounts.api.bodies import BEARER, json_body, json_response, link, links, read_body
from discounts.api.deps import authenticate, guessing
from discounts.api.idempotency import HEADER_PARAMETER
from discounts.api.problems import problem_responses
from discounts.auth import Role
from discounts.errors import DiscountsError
from discounts.runtime import Runtime
from discounts.usage.bodies import quote_out, redemption_out
from discounts.usage.schemas import QuoteOut, RedemptionIn, RedemptionOut
from discounts.usage.service import USAGE_ID_PATTERN

router = APIRouter(prefix="/api/v1", tags=["usage"])

USAGE = {"usage_id": "$response.body#/id"}
#: What a checkout does with a usage: confirm its hold once paid, release or roll it back if not.
NEXT_STEPS = {
    "confirm": link("POST", "/api/v1/discountcodeusage/{usage_id}/confirm/", "Confirm the hold", parameters=USAGE),
    "rollback": link("DELETE", "/api/v1/discountcodeusage/{usage_id}/", "Release or roll back", parameters=USAGE),
}


@router.post(
    "/discountcodeusage/",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionOut,
    responses=problem_responses(403, 404, 409, 410, 422, 429),
    openapi_extra={**json_body(RedemptionIn), "parameters": [HEADER_PARAMETER], **links(201, **NEXT_STEPS)},
    response_model_exclude_none=True,
)
async def use_code(request: Request) -> Response:
    """Use a code once and get the amount to pay; the brand is told asynchronously.

    With ``"hold": true`` the code is held for the checkout instead: it counts against every
    limit until confirmed, released, or ``hold_expires_at`` passes (then it gives all back).
    """
    principal = await authenticate(request, Role.user)
    body = await read_body(request, RedemptionIn)
    runtime: Runtime = request.app.state.runtime
    try:
        async with guessing(request, principal):
            usage = await runtime.redeemer.redeem(principal, body)
    except DiscountsError as refused:
        metrics.redemption(refused.code)
        raise
    metrics.redemption("redeemed")
    return json_response(redemption_out(usage), status.HTTP_201_CREATED)


@router.post(
    "/discountcodequote/",
    response_model=QuoteOut,
    responses=problem_responses(404, 409, 410),
    openapi_extra=json_body(RedemptionIn),
    response_model_exclude_none=True,
)
async def quote_code(request: Request) -> Response:
    """What a redemption would answer now — the amount to pay, or the very error — without using the code."""
    principal = await authenticate(request, Role.user)
    body = await read_body(request, RedemptionIn)
    runtime: Runtime = request.app.state.runtime
    async with guessing(request, principal):
        usage = await runtime.redeemer.quote(principal, body)
    return json_response(quote_out(usage))


UsageRef = Annotated[str, Path(pattern=USAGE_ID_PATTERN, description="A usage's `id`, as its redemption returned it")]


@router.post(
    "/discountcodeusage/{usage_id}/confirm/",
    response_model=RedemptionOut,
    responses=problem_responses(403, 404, 410),
    openapi_extra={"security": BEARER, "parameters": [HEADER_PARAMETER], **links(200, rollback=NEXT_STEPS["rollback"])},
    response_model_exclude_none=True,
)
async def confirm_usage(usage_id: UsageRef, request: Request) -> Response:
    """Confirm a checkout hold (the payment went through): it is a use now. Again: the same answer.

    The usage's user or the marketplace's service may; an unknown usage, someone else's, or
    one given back is 404; a hold that ended first is 410 ``hold_expired``.
    """
    principal = await authenticate(request)
    runtime: Runtime = request.app.state.runtime
    usage = await runtime.redeemer.confirm(principal, usage_id)
    return json_response(redemption_out(usage))


@router.delete(
    "/discountcodeusage/{usage_id}/",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(403, 404),
    openapi_extra={"security": BEARER},
)
async def give_back_usage(usage_id: UsageRef, request: Request) -> Response:
    """Release a hold, or roll back a use (the order was cancelled, the payment failed).

    The use, its share of ``max_uses`` and of the budget come back, and the ledger and the
    brand's digest record it. Unknown, someone else's, given back already, or a hold that
    ended: 404 ``usage_not_found``. Brands cannot (403; they roll back from their dashboard).
    """
    principal = await authenticate(request, Role.user, Role.service)
    runtime: Runtime = request.app.state.runtime
    await runtime.redeemer.give_back(principal, usage_id)
    metrics.redemption("given_back")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
