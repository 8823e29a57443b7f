"""The redemption route: the hot path of a flash sale, kept lean (see ``api/bodies.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from discounts import metrics
from discounts.api.bodies import json_body, json_response, read_body
from discounts.api.deps import authenticate, guessing
from discounts.api.idempotency import HEADER_PARAMETER
from discounts.api.problems import problem_responses
from discounts.auth import Role
from discounts.errors import DiscountsError
from discounts.fields import format_time
from discounts.money import format_money
from discounts.runtime import Runtime
from discounts.usage.schemas import QuoteOut, RedemptionIn, RedemptionOut
from discounts.usage.store import Usage

router = APIRouter(prefix="/api/v1", tags=["usage"])


@router.post(
    "/discountcodeusage/",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionOut,
    responses=problem_responses(404, 409, 410),
    openapi_extra={**json_body(RedemptionIn), "parameters": [HEADER_PARAMETER]},
    response_model_exclude_none=True,
)
async def use_code(request: Request) -> Response:
    """Use a code once and get the amount to pay; the brand is told asynchronously."""
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


def quote_out(usage: Usage) -> dict[str, object]:
    """The body of QuoteOut, built from the usage's values (no model to validate again)."""
    body: dict[str, object] = {"code": usage.code, "user": usage.user}
    if usage.amount_off is None:
        body["discount"] = usage.discount
    else:
        body["amount_off"] = format_money(usage.amount_off)
    if usage.currency is not None:
        body["currency"] = usage.currency
    body["amount"] = format_money(usage.amount)
    body["discount_amount"] = format_money(usage.discount_amount)
    body["amount_to_pay"] = format_money(usage.amount_to_pay)
    return body


def redemption_out(usage: Usage) -> dict[str, object]:
    """The body of RedemptionOut: the quote's, and when it was used."""
    body = quote_out(usage)
    body["used_at"] = format_time(usage.used_at)
    return body
