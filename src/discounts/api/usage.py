"""The redemption route: the hot path of a flash sale, kept lean (see ``api/bodies.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from discounts import metrics
from discounts.api.bodies import json_body, json_response, read_body
from discounts.api.deps import authenticate
from discounts.api.problems import problem_responses
from discounts.auth import Role
from discounts.errors import DiscountsError
from discounts.fields import format_time
from discounts.money import format_money
from discounts.runtime import Runtime
from discounts.usage.schemas import RedemptionIn, RedemptionOut
from discounts.usage.store import Usage

router = APIRouter(prefix="/api/v1", tags=["usage"])


@router.post(
    "/discountcodeusage/",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionOut,
    responses=problem_responses(404, 409, 410),
    openapi_extra=json_body(RedemptionIn),
)
async def use_code(request: Request) -> Response:
    """Use a code once and get the amount to pay; the brand is told asynchronously."""
    principal = await authenticate(request, Role.user)
    body = await read_body(request, RedemptionIn)
    runtime: Runtime = request.app.state.runtime
    try:
        usage = await runtime.redeemer.redeem(principal, body)
    except DiscountsError as refused:
        metrics.redemption(refused.code)
        raise
    metrics.redemption("redeemed")
    return json_response(redemption_out(usage), status.HTTP_201_CREATED)


def redemption_out(usage: Usage) -> dict[str, object]:
    """The body of RedemptionOut, built from the usage's values (no model to validate again)."""
    return {
        "code": usage.code,
        "user": usage.user,
        "used_at": format_time(usage.used_at),
        "discount": usage.discount,
        "amount": format_money(usage.amount),
        "discount_amount": format_money(usage.discount_amount),
        "amount_to_pay": format_money(usage.amount_to_pay),
    }
