"""Dependencies the routers declare: the unit of work, the caller, the clock, the store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from discounts.auth import Principal, Role
from discounts.db import UnitOfWork, unit_of_work
from discounts.errors import RateLimited, Unauthenticated
from discounts.runtime import Runtime
from discounts.usage.store import UsageStore


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_uow(runtime: RuntimeDep) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work; it commits before the response is sent (scope="function")."""
    async with unit_of_work(runtime.sessions) as uow:
        yield uow


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]


def get_now(runtime: RuntimeDep) -> datetime:
    return runtime.clock()


NowDep = Annotated[datetime, Depends(get_now)]


def get_store(runtime: RuntimeDep) -> UsageStore:
    return runtime.store


StoreDep = Annotated[UsageStore, Depends(get_store)]

bearer = HTTPBearer(auto_error=False, description="A JWT with `sub`, `role` and (for brands) `brand`")


class RateLimit:
    """Per-caller request limits (e.g. ``1000/minute``), kept in each process's memory."""

    def __init__(self, spec: str) -> None:
        self._limits = parse_many(spec) if spec else []
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def check(self, key: str) -> None:
        for limit in self._limits:
            if not await self._limiter.hit(limit, key):
                stats = await self._limiter.get_window_stats(limit, key)
                retry = max(1, int(stats.reset_time - time.time()) + 1)
                raise RateLimited(retry)


async def get_principal(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    limiter: RateLimit = request.app.state.rate_limit
    if credentials is None or credentials.scheme.lower() != "bearer":
        await limiter.check(f"ip:{request.client.host if request.client else '-'}")
        raise Unauthenticated("send a bearer token in the Authorization header")
    try:
        principal = runtime.verifier.verify(credentials.credentials)
    except Unauthenticated:
        await limiter.check(f"ip:{request.client.host if request.client else '-'}")
        raise
    await limiter.check(f"{principal.role.value}:{principal.sub}")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def role(*roles: Role) -> Any:
    """A dependency that refuses (403) callers of other roles, before the body is looked at."""

    async def _check(principal: PrincipalDep) -> Principal:
        principal.require(*roles)
        return principal

    return Depends(_check)


ServicePrincipal = Annotated[Principal, role(Role.service)]
BrandPrincipal = Annotated[Principal, role(Role.brand)]
UserPrincipal = Annotated[Principal, role(Role.user)]
