"""The marketplace cart's routes (API.md part 3): quote, redeem all or nothing, confirm, give back.

The redemption is a checkout's hot path like a single code's: it reads its body itself and is
served ahead of FastAPI's stack by ``hot_routes.HotRoutes`` (``bodies.py`` says why).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request, Response, status

from discounts import metrics
from discounts.api.bodies import BEARER, json_body, json_response, link, links, read_body
from discounts.api.deps import authenticate, caller_address
from discounts.api.idempotency import HEADER_PARAMETER, NONCE
from discounts.api.problems import problem_responses
from discounts.auth import Principal, Role
from discounts.errors import CartRejected
from discounts.fields import format_time
from discounts.runtime import Runtime
from discounts.usage.cart_schemas import (
    CART_ID_PATTERN,
    CartIn,
    CartQuoteOut,
    CartRedemptionIn,
    CartRedemptionOut,
)
from discounts.usage.service import usage_id
from discounts.usage.store import CartState, StoredCart

router = APIRouter(prefix="/api/v1", tags=["carts"])

CART = {"id": "$response.body#/id"}
NEXT_STEPS = {
    "confirm": link("POST", "/api/v1/cartredemption/{id}/confirm/", "Confirm the held cart", parameters=CART),
    "release": link("DELETE", "/api/v1/cartredemption/{id}/", "Release or roll back the cart", parameters=CART),
}
CartRef = Annotated[
    str, Path(pattern=CART_ID_PATTERN, description="A cart redemption's `id`, as its redemption returned it")
]


@router.post(
    "/cartquote/",
    response_model=CartQuoteOut,
    responses=problem_responses(403, 429),
    openapi_extra=json_body(CartIn),
)
async def quote_cart(request: Request) -> Response:
    """A cart priced line by line with its codes, each refused one listed with its reason; nothing recorded."""
    principal = await authenticate(request, Role.user)
    body = await read_body(request, CartIn)
    runtime: Runtime = request.app.state.runtime
    keys = await _guessing(request, principal)
    quote = await runtime.carts.quote(principal, body)
    rejected = [rejection.body() for rejection in quote.rejected]
    await _count_misses(runtime, keys, rejected)
    answer = quote.summary()
    answer["rejected"] = rejected
    return json_response(answer)


@router.post(
    "/cartredemption/",
    status_code=status.HTTP_201_CREATED,
    response_model=CartRedemptionOut,
    response_model_exclude_none=True,
    responses=problem_responses(403, 409, 429),
    openapi_extra={**json_body(CartRedemptionIn), "parameters": [HEADER_PARAMETER], **links(201, **NEXT_STEPS)},
)
async def redeem_cart(request: Request) -> Response:
    """Redeem every code of the cart, or none (409 ``cart_rejected`` lists what would be refused).

    With ``"hold": true`` the codes are held for the checkout: confirm them together once paid,
    or release them; a hold left alone gives everything back at ``hold_expires_at``.
    """
    principal = await authenticate(request, Role.user)
    body = await read_body(request, CartRedemptionIn)
    runtime: Runtime = request.app.state.runtime
    keys = await _guessing(request, principal)
    # A retry carrying the first attempt's Idempotency-Key is the same cart: it finds its own claims.
    cart_id = request.scope.get(NONCE) or secrets.token_hex(16)
    try:
        redeemed = await runtime.carts.redeem(principal, body, cart_id)
    except CartRejected as refused:
        metrics.redemption(refused.code)
        await _count_misses(runtime, keys, refused.rejected)
        raise
    metrics.redemption("cart_redeemed")
    return json_response(cart_body(redeemed.cart, redeemed.summary), status.HTTP_201_CREATED)


@router.post(
    "/cartredemption/{id}/confirm/",
    response_model=CartRedemptionOut,
    response_model_exclude_none=True,
    responses=problem_responses(403, 404, 410),
    openapi_extra={"security": BEARER, "parameters": [HEADER_PARAMETER], **links(200, release=NEXT_STEPS["release"])},
)
async def confirm_cart(id: CartRef, request: Request) -> Response:  # noqa: A002 - the contract names it "id"
    """Confirm a held cart (the payment went through): every code of it is used now. Again: the same answer.

    The cart's user or the marketplace's service may; unknown or someone else's: 404
    ``cart_not_found``; after the hold ended: 410 ``hold_expired``; a brand: 403.
    """
    principal = await authenticate(request)
    runtime: Runtime = request.app.state.runtime
    return json_response(cart_body(await runtime.carts.confirm(principal, id)))


@router.delete(
    "/cartredemption/{id}/",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(403, 404),
    openapi_extra={"security": BEARER},
)
async def give_back_cart(id: CartRef, request: Request) -> Response:  # noqa: A002 - the contract names it "id"
    """Release a held cart or roll back a used one: every usage of it still held or used comes back.

    Those given back alone before stay so. A second DELETE, or one after the hold ended: 404.
    """
    principal = await authenticate(request)
    runtime: Runtime = request.app.state.runtime
    await runtime.carts.give_back(principal, id)
    metrics.redemption("cart_given_back")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def cart_body(cart: StoredCart, summary: dict[str, Any] | None = None) -> dict[str, object]:
    """The body of CartRedemptionOut: the kept summary (``summary``: already read), id, state, each code's usage."""
    body: dict[str, object] = {"id": cart.id}
    status_ = "held" if cart.state is CartState.HELD else "used"
    body["status"] = status_
    body["used_at"] = format_time(cart.used_at)
    if status_ == "held":
        body["hold_expires_at"] = format_time(cart.hold_until)
    if summary is None:
        summary = orjson.loads(cart.summary)
    for applied, usage in zip(summary["applied"], cart.usages, strict=True):
        applied["usage"] = usage_id(usage)
    body.update(summary)
    return body


async def _guessing(request: Request, principal: Principal) -> tuple[str, str]:
    """429 for the whole request once the caller is past the guessing limit (codes/guessing.py)."""
    runtime: Runtime = request.app.state.runtime
    keys = (f"p:{principal.role.value}:{principal.sub}", f"a:{caller_address(request)}")
    await runtime.guesses.check(keys)
    return keys


async def _count_misses(runtime: Runtime, keys: tuple[str, str], rejected: Sequence[dict[str, str]]) -> None:
    """Each unknown code of a cart is a miss, as a single lookup's 404 is (past the limit: 429)."""
    for rejection in rejected:
        if rejection["reason"] == "code_not_found":
            await runtime.guesses.missed(keys)
