from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status

from discounts.api.deps import NowDep, ServicePrincipal, UnitOfWorkDep
from discounts.api.problems import problem_responses
from discounts.directory import service
from discounts.directory.models import Brand, User
from discounts.directory.schemas import MAX_BULK_USERS, BrandIn, BrandOut, BulkResult, BulkUserIn, UserIn, UserOut
from discounts.fields import ID_PATTERN

router = APIRouter(prefix="/api/v1", tags=["directory"])

IdPath = Annotated[str, Path(pattern=ID_PATTERN)]


def brand_out(brand: Brand) -> BrandOut:
    return BrandOut.model_validate(brand, from_attributes=True)


def user_out(user: User) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


@router.put("/brands/{brand_id}/", response_model=BrandOut, responses={201: {"model": BrandOut}})
async def put_brand(
    brand_id: IdPath, body: BrandIn, uow: UnitOfWorkDep, principal: ServicePrincipal, now: NowDep, response: Response
) -> BrandOut:
    """Create (201) or update (200) a brand. Marketplace back end only."""
    brand, created = await service.put_brand(uow.session, brand_id, body, now)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return brand_out(brand)


@router.get("/brands/{brand_id}/", response_model=BrandOut, responses=problem_responses(404))
async def get_brand(brand_id: IdPath, uow: UnitOfWorkDep, principal: ServicePrincipal) -> BrandOut:
    return brand_out(await service.get_brand(uow.session, brand_id))


@router.put("/users/{user_id}/", response_model=UserOut, responses={201: {"model": UserOut}})
async def put_user(
    user_id: IdPath, body: UserIn, uow: UnitOfWorkDep, principal: ServicePrincipal, now: NowDep, response: Response
) -> UserOut:
    """Create (201) or update (200) a user. Marketplace back end only."""
    user, created = await service.put_user(uow.session, user_id, body, now)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return user_out(user)


@router.get("/users/{user_id}/", response_model=UserOut, responses=problem_responses(404))
async def get_user(user_id: IdPath, uow: UnitOfWorkDep, principal: ServicePrincipal) -> UserOut:
    return user_out(await service.get_user(uow.session, user_id))


@router.post("/users/", response_model=BulkResult)
async def put_users(
    body: Annotated[list[BulkUserIn], Body(max_length=MAX_BULK_USERS)],
    uow: UnitOfWorkDep,
    principal: ServicePrincipal,
    now: NowDep,
) -> BulkResult:
    """Create or update many users at once (up to 100,000 per request)."""
    created, updated = await service.put_users(uow.session, body, now)
    return BulkResult(received=len(body), created=created, updated=updated)
