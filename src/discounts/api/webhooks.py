"""Webhook endpoints: a brand's (its own events) or the marketplace service's (every brand's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from discounts.api.deps import NowDep, RuntimeDep, UnitOfWorkDep, role
from discounts.api.problems import problem_responses
from discounts.auth import Principal, Role
from discounts.webhooks import endpoints
from discounts.webhooks.ping import send_ping
from discounts.webhooks.schemas import AttemptOut, EndpointIn, EndpointOut, EndpointPatch, EndpointWithSecret

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

EndpointId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_]{1,40}$", description="The endpoint's id")]


#: A brand (its own events) or the marketplace's service (every brand's); the bearer scheme is documented.
OwnerDep = Annotated[Principal, role(Role.brand, Role.service)]


@router.post(
    "/webhooks/",
    status_code=status.HTTP_201_CREATED,
    response_model=EndpointWithSecret,
    responses=problem_responses(403),
)
async def create_webhook(
    body: EndpointIn, uow: UnitOfWorkDep, principal: OwnerDep, now: NowDep, runtime: RuntimeDep, response: Response
) -> EndpointWithSecret:
    """Subscribe a URL to events; the answer carries its signing ``secret``, shown this once.

    A brand's endpoint is sent the brand's own events; the marketplace service's, every brand's.
    """
    allow = runtime.settings.webhook_allow_private
    endpoint = await endpoints.create_endpoint(uow.session, principal, body, now, allow_private=allow)
    response.headers["Location"] = f"/api/v1/webhooks/{endpoint.id}/"
    return endpoints.with_secret(endpoint)


@router.get("/webhooks/", response_model=list[EndpointOut], responses=problem_responses(403))
async def list_webhooks(uow: UnitOfWorkDep, principal: OwnerDep) -> list[EndpointOut]:
    """The endpoints this principal created (a brand: the brand's), oldest first; never their secrets."""
    return [endpoints.endpoint_out(e) for e in await endpoints.list_endpoints(uow.session, principal)]


@router.get("/webhooks/{id}/", response_model=EndpointOut, responses=problem_responses(403, 404))
async def get_webhook(
    id: EndpointId,  # noqa: A002 - the contract names it "id"
    uow: UnitOfWorkDep,
    principal: OwnerDep,
) -> EndpointOut:
    return endpoints.endpoint_out(await endpoints.get_endpoint(uow.session, principal, id))


@router.patch("/webhooks/{id}/", response_model=EndpointOut, responses=problem_responses(403, 404))
async def update_webhook(
    id: EndpointId,  # noqa: A002 - the contract names it "id"
    body: EndpointPatch,
    uow: UnitOfWorkDep,
    principal: OwnerDep,
    now: NowDep,
    runtime: RuntimeDep,
) -> EndpointOut:
    """Change its ``url``, ``events``, ``description``, or disable and enable it."""
    allow = runtime.settings.webhook_allow_private
    endpoint = await endpoints.update_endpoint(uow.session, principal, id, body, now, allow_private=allow)
    return endpoints.endpoint_out(endpoint)


@router.delete(
    "/webhooks/{id}/",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(403, 404),
)
async def delete_webhook(
    id: EndpointId,  # noqa: A002 - the contract names it "id"
    uow: UnitOfWorkDep,
    principal: OwnerDep,
) -> Response:
    """Nothing more is sent to it; deliveries it was still owed are dropped."""
    await endpoints.delete_endpoint(uow.session, principal, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/webhooks/{id}/secret/", response_model=EndpointWithSecret, responses=problem_responses(403, 404))
async def rotate_webhook_secret(
    id: EndpointId,  # noqa: A002 - the contract names it "id"
    uow: UnitOfWorkDep,
    principal: OwnerDep,
    now: NowDep,
) -> EndpointWithSecret:
    """A new secret, shown this once; for 24 hours each delivery is signed with the old one too."""
    return endpoints.with_secret(await endpoints.rotate_secret(uow.session, principal, id, now))


@router.get("/webhooks/{id}/deliveries/", response_model=list[AttemptOut], responses=problem_responses(403, 404))
async def webhook_deliveries(
    id: EndpointId,  # noqa: A002 - the contract names it "id"
    uow: UnitOfWorkDep,
    principal: OwnerDep,
) -> list[AttemptOut]:
    """Its latest 100 attempts, newest first."""
    return await endpoints.attempts(uow.session, principal, id)


@router.post("/webhooks/{id}/test/", response_model=AttemptOut, responses=problem_responses(403, 404))
async def test_webhook(
    id: EndpointId,  # noqa: A002 - the contract names it "id"
    uow: UnitOfWorkDep,
    principal: OwnerDep,
    now: NowDep,
    runtime: RuntimeDep,
) -> AttemptOut:
    """Send a ``ping`` now (whatever its ``events``; not retried) and answer how it went."""
    allow = runtime.settings.webhook_allow_private
    return await send_ping(uow.session, principal, id, now, allow_private=allow)
