from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from discounts.api.bodies import BEARER, json_response, link, links
from discounts.api.deps import BrandPrincipal, NowDep, UnitOfWorkDep, authenticate, guessing
from discounts.api.idempotency import HEADER_PARAMETER
from discounts.api.problems import problem_responses
from discounts.auth import Role
from discounts.codes import service
from discounts.codes.models import DiscountCode
from discounts.codes.schemas import CodeIn, CodeOut, CodeView, RuleIn, RuleOut
from discounts.codes.terms import rule_body, rule_out
from discounts.fields import CODE_INPUT_PATTERN, format_time
from discounts.runtime import Runtime
from discounts.usage.service import limits_of

router = APIRouter(prefix="/api/v1", tags=["codes"])

CODE = {"id": "$response.body#/id"}
USE_IT = {"code": "$response.body#/id"}
#: What follows a code's creation: fetching it, its e-mail's progress, a shopper's quote and use.
CODE_NEXT_STEPS = {
    "fetch": link("GET", "/api/v1/discountcode/{id}/", "Fetch the code", parameters=CODE),
    "notifications": link("GET", "/api/v1/discountcode/{id}/notifications/", "Its e-mail", parameters=CODE),
    "quote": link("POST", "/api/v1/discountcodequote/", "Quote it at a checkout", requestBody=USE_IT),
    "redeem": link("POST", "/api/v1/discountcodeusage/", "Use it at a checkout", requestBody=USE_IT),
}

#: A code string (any case) or a SHA-256 hash in hex, which is one too as far as the pattern goes.
CodeRef = Annotated[str, Path(pattern=CODE_INPUT_PATTERN, description="The code string (any case) or its SHA-256 hash")]


def code_out(code: DiscountCode) -> CodeOut:
    return CodeOut(
        id=code.id, hash=code.hash, rule=rule_out(code.rule), validity=code.validity, created_at=code.created_at
    )


@router.post(
    "/discountcode/",
    status_code=status.HTTP_201_CREATED,
    response_model=CodeOut,
    responses=problem_responses(404, 409),
    openapi_extra={"parameters": [HEADER_PARAMETER], **links(201, **CODE_NEXT_STEPS)},
)
async def create_code(
    body: CodeIn, uow: UnitOfWorkDep, principal: BrandPrincipal, now: NowDep, response: Response
) -> CodeOut:
    """Create a code for the token's brand; its users are e-mailed asynchronously."""
    code = await service.create_code(uow, principal, body, now)
    response.headers["Location"] = f"/api/v1/discountcode/{code.id}/"
    return code_out(code)


@router.get("/discountcode/", response_model=list[CodeOut])
async def list_codes(uow: UnitOfWorkDep, principal: BrandPrincipal) -> list[CodeOut]:
    """The token's brand's codes, oldest first."""
    return [code_out(code) for code in await service.list_codes(uow.session, principal)]


@router.get(
    "/discountcode/{id}/",
    response_model=CodeView,
    response_model_exclude_unset=True,
    responses=problem_responses(404),
    openapi_extra={"security": BEARER},
)
async def get_code(
    id: CodeRef,  # noqa: A002 - the contract names it "id"
    request: Request,
) -> Response:
    """A code by string or hash; expired codes are returned too, with ``expired: true``.

    ``used`` is only there for a user: for a brand or a service it has no meaning. Answered
    from the code cache, like a redemption: fetching the code at checkout costs no SQL.
    """
    principal = await authenticate(request)
    runtime: Runtime = request.app.state.runtime
    async with guessing(request, principal):
        code = await runtime.codes.get(id)
    view: dict[str, object] = {
        "id": code.id,
        "hash": code.hash,
        "rule": rule_body(code.rule),
        "validity": format_time(code.validity),
        "created_at": format_time(code.created_at),
        "expired": code.is_expired(runtime.clock()),
    }
    if principal.role is Role.user:
        now = runtime.clock()
        view["used"] = await runtime.store.used_at(code.id, principal.sub, limits_of(code.rule), now=now) is not None
    return json_response(view)


@router.post(
    "/discountrule/",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleOut,
    openapi_extra=links(
        201,
        code=link("POST", "/api/v1/discountcode/", "A code of this rule", requestBody={"rule": "$response.body#/id"}),
    ),
)
async def create_rule(body: RuleIn, uow: UnitOfWorkDep, principal: BrandPrincipal, now: NowDep) -> RuleOut:
    """A rule to reuse across codes (pass its id as a code's ``rule``)."""
    return rule_out(await service.create_rule(uow.session, principal, body, now))


@router.get("/discountrule/", response_model=list[RuleOut])
async def list_rules(uow: UnitOfWorkDep, principal: BrandPrincipal) -> list[RuleOut]:
    return [rule_out(rule) for rule in await service.list_rules(uow.session, principal)]
