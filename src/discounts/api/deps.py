"""Dependencies the routers declare: the unit of work, the caller, the clock.

Every dependency is ``async def``: FastAPI runs a plain ``def`` dependency in its thread
pool, a thread hop per request for what is a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from starlette.types import Scope

from discounts.auth import Principal, Role
from discounts.codes.guessing import Watch
from discounts.db import UnitOfWork, unit_of_work
from discounts.errors import RateLimited, Unauthenticated
from discounts.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_uow(runtime: RuntimeDep) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work; it commits before the response is sent (scope="function")."""
    async with unit_of_work(runtime.sessions) as uow:
        yield uow


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]


async def get_now(runtime: RuntimeDep) -> datetime:
    return runtime.clock()


NowDep = Annotated[datetime, Depends(get_now)]


#: Documents the bearer scheme in OpenAPI; the token itself is read by ``authenticate``.
bearer = HTTPBearer(auto_error=False, description="A JWT with `sub`, `role` and (for brands) `brand`")


def raw_header(scope: Scope, name: bytes) -> str | None:
    """A request header straight from the ASGI scope: a hot path need not build a Headers object."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer …``."""
    scheme, _, token = (raw_header(request.scope, b"authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(request: Request, *roles: Role) -> Principal:
    """The caller, counted against the rate limit; 401 without a valid token, 403 for other roles.

    Callers without a valid token are limited by address, the others by who they are.
    """
    runtime: Runtime = request.app.state.runtime
    token = _bearer_token(request)
    try:
        if token is None:
            raise Unauthenticated("send a bearer token in the Authorization header")
        principal = runtime.verifier.verify(token)
    except Unauthenticated:
        _limit(runtime, f"ip:{caller_address(request)}")
        raise
    _limit(runtime, f"{principal.role.value}:{principal.sub}")
    if roles:
        principal.require(*roles)
    return principal


def caller_address(request: Request) -> str:
    """The client's address (behind a proxy, run uvicorn with ``--forwarded-allow-ips`` so this is the shopper's)."""
    return request.client.host if request.client else "-"


def guessing(request: Request, principal: Principal) -> Watch:
    """``async with guessing(request, principal):`` around a code lookup: the guessing limits (codes/guessing.py)."""
    runtime: Runtime = request.app.state.runtime
    return runtime.guesses.watch(f"{principal.role.value}:{principal.sub}", caller_address(request))


def _limit(runtime: Runtime, key: str) -> None:
    retry_after = runtime.rate_limit.hit(key)
    if retry_after is not None:
        raise RateLimited(retry_after)


def role(*roles: Role) -> Any:
    """A dependency that refuses (403) callers of other roles, before the body is looked at."""

    async def _check(request: Request, _: Annotated[Any, Depends(bearer)]) -> Principal:
        return await authenticate(request, *roles)

    return Depends(_check)


ServicePrincipal = Annotated[Principal, role(Role.service)]
BrandPrincipal = Annotated[Principal, role(Role.brand)]
UserPrincipal = Annotated[Principal, role(Role.user)]
