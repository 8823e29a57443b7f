from __future__ import annotations

from fastapi import APIRouter, status

from discounts import metrics
from discounts.api.deps import NowDep, RuntimeDep, UnitOfWorkDep, UserPrincipal
from discounts.api.problems import problem_responses
from discounts.errors import DiscountsError
from discounts.usage.schemas import RedemptionIn, RedemptionOut
from discounts.usage.service import redeem

router = APIRouter(prefix="/api/v1", tags=["usage"])


@router.post(
    "/discountcodeusage/",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionOut,
    responses=problem_responses(404, 409, 410),
)
async def use_code(
    body: RedemptionIn, uow: UnitOfWorkDep, principal: UserPrincipal, now: NowDep, runtime: RuntimeDep
) -> RedemptionOut:
    """Use a code once and get the amount to pay; the brand is told asynchronously."""
    try:
        usage = await redeem(uow.session, runtime.store, runtime.codes, principal, body, now=now, grace=runtime.grace)
    except DiscountsError as refused:
        metrics.REDEMPTIONS.labels(refused.code).inc()
        raise
    metrics.REDEMPTIONS.labels("redeemed").inc()
    return RedemptionOut.model_validate(usage, from_attributes=True)
