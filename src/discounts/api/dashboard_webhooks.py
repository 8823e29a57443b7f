"""The dashboard's Webhooks page: the brand's endpoints, their secret shown once, tests, deliveries.

Every action is the webhooks API's own domain function (``webhooks/endpoints.py``, ``ping.py``)
for the signed-in brand: the same validation, the same SSRF check, the same "not found" for
another's endpoint. The secret is on the one page that answers its creation or rotation (a POST,
``no-store`` as every page); no GET shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from discounts.api.dashboard_support import Dashboard, DashboardDep, SignedInDep, posted_form, refused, see_other
from discounts.api.deps import NowDep, RuntimeDep, UnitOfWorkDep
from discounts.api.webhooks import EndpointId
from discounts.auth import Principal
from discounts.dashboard import views
from discounts.dashboard.forms import LABELS, FormProblem, webhook_body
from discounts.dashboard.sessions import SignedIn
from discounts.db import UnitOfWork
from discounts.errors import DiscountsError, InvalidInput
from discounts.webhooks import endpoints
from discounts.webhooks.models import WebhookEndpoint
from discounts.webhooks.ping import send_ping
from discounts.webhooks.schemas import EndpointIn, EndpointPatch

router = APIRouter(prefix="/dashboard", include_in_schema=False)

#: A test's event id (``outbox.event_id``), which the endpoint's page finds in its log.
PingRef = Annotated[str, Query(pattern=r"^evt_[0-9a-f]{32}$")]
#: The state form's choice, as ``PATCH /api/v1/webhooks/{id}/`` takes it.
SWITCHES = {"true": True, "false": False}


@dataclass(frozen=True, slots=True)
class Posted:
    """A form posted on the Webhooks pages (its origin and CSRF token checked), by whom, and with what."""

    request: Request
    form: dict[str, str]
    uow: UnitOfWork
    dashboard: Dashboard
    signed_in: SignedIn
    now: datetime
    #: ``DISCOUNTS_WEBHOOK_ALLOW_PRIVATE``, as the API passes it to the same functions.
    allow_private: bool

    @property
    def principal(self) -> Principal:
        return self.signed_in.principal


async def posted(
    request: Request,
    uow: UnitOfWorkDep,
    dashboard: DashboardDep,
    signed_in: SignedInDep,
    runtime: RuntimeDep,
    now: NowDep,
) -> Posted:
    form = await posted_form(request, dashboard, signed_in)
    return Posted(request, form, uow, dashboard, signed_in, now, runtime.settings.webhook_allow_private)


#: The request's unit of work commits what the action did before the answer is sent, as on every page.
PostedDep = Annotated[Posted, Depends(posted)]


def endpoint_url(endpoint_id: str, **query: str) -> str:
    return f"/dashboard/webhooks/{endpoint_id}/" + (f"?{urlencode(query)}" if query else "")


def form_page(
    dashboard: Dashboard, signed_in: SignedIn, values: dict[str, str], problem: FormProblem | None = None
) -> HTMLResponse:
    """The add form, with what was typed and the problem it met, if any."""
    return dashboard.page(
        "new_webhook.html",
        422 if problem else 200,
        signed_in=signed_in,
        section="webhooks",
        values=values,
        problem=problem,
        labels=LABELS,
        events=views.EVENT_CHOICES,
    )


def secret_page(post: Posted, endpoint: WebhookEndpoint, rotated: bool) -> HTMLResponse:
    """The one page that shows the signing secret: the answer to the post that made it."""
    return post.dashboard.page(
        "webhook_secret.html",
        signed_in=post.signed_in,
        section="webhooks",
        endpoint=endpoints.with_secret(endpoint),
        rotated=rotated,
        overlap_hours=views.ROTATION_HOURS,
    )


@router.get("/webhooks/", response_class=HTMLResponse)
async def webhooks_page(
    uow: UnitOfWorkDep,
    dashboard: DashboardDep,
    signed_in: SignedInDep,
    done: Annotated[Literal["deleted"], Query()] | None = None,
) -> HTMLResponse:
    found = await endpoints.list_endpoints(uow.session, signed_in.principal)
    items = [views.endpoint_view(endpoint) for endpoint in found]
    return dashboard.page("webhooks.html", signed_in=signed_in, section="webhooks", items=items, done=done)


@router.get("/webhooks/new", response_class=HTMLResponse)
async def new_webhook_page(dashboard: DashboardDep, signed_in: SignedInDep) -> HTMLResponse:
    return form_page(dashboard, signed_in, {})


@router.post("/webhooks/new", response_model=None)
async def create_webhook(post: PostedDep) -> Response:
    """``POST /api/v1/webhooks/``'s validation and domain function; its problems by their fields."""
    try:
        body = EndpointIn.model_validate(webhook_body(post.form))
        endpoint = await endpoints.create_endpoint(
            post.uow.session, post.principal, body, post.now, allow_private=post.allow_private
        )
    except (ValidationError, DiscountsError) as exc:
        problem = await refused(post.uow, post.request, post.form, exc)
        return form_page(post.dashboard, post.signed_in, post.form, problem)
    return secret_page(post, endpoint, rotated=False)


@router.get("/webhooks/{endpoint_id}/", response_class=HTMLResponse)
async def webhook_page(
    endpoint_id: EndpointId,
    uow: UnitOfWorkDep,
    dashboard: DashboardDep,
    signed_in: SignedInDep,
    done: Annotated[Literal["enabled", "disabled"], Query()] | None = None,
    tested: PingRef | None = None,
) -> HTMLResponse:
    """The endpoint, its actions, and its latest attempts (the API's deliveries log), newest first."""
    endpoint = await endpoints.get_endpoint(uow.session, signed_in.principal, endpoint_id)
    log = views.attempt_rows(await endpoints.attempts(uow.session, signed_in.principal, endpoint_id))
    test = next((row for row in log if row.attempt.event == tested), None) if tested else None
    return dashboard.page(
        "webhook.html",
        signed_in=signed_in,
        section="webhooks",
        item=views.endpoint_view(endpoint),
        log=log,
        test=test,
        done=done,
        overlap_hours=views.ROTATION_HOURS,
    )


@router.post("/webhooks/{endpoint_id}/test")
async def ping_webhook(endpoint_id: EndpointId, post: PostedDep) -> Response:
    """``POST /api/v1/webhooks/{id}/test/``'s ping; the endpoint's page then says how it went."""
    sent = await send_ping(post.uow.session, post.principal, endpoint_id, post.now, allow_private=post.allow_private)
    return see_other(endpoint_url(endpoint_id, tested=sent.event))


@router.post("/webhooks/{endpoint_id}/state")
async def switch_webhook(endpoint_id: EndpointId, post: PostedDep) -> Response:
    """Disable or enable it, as ``PATCH /api/v1/webhooks/{id}/`` with ``enabled`` does."""
    enabled = SWITCHES.get(post.form.get("enabled", ""))
    if enabled is None:
        raise InvalidInput("enabled", "must be true or false")
    await endpoints.update_endpoint(
        post.uow.session,
        post.principal,
        endpoint_id,
        EndpointPatch(enabled=enabled),
        post.now,
        allow_private=post.allow_private,
    )
    return see_other(endpoint_url(endpoint_id, done="enabled" if enabled else "disabled"))


@router.post("/webhooks/{endpoint_id}/secret", response_class=HTMLResponse)
async def rotate_webhook_secret(endpoint_id: EndpointId, post: PostedDep) -> HTMLResponse:
    """``POST /api/v1/webhooks/{id}/secret/``: a new secret, shown on this page only."""
    endpoint = await endpoints.rotate_secret(post.uow.session, post.principal, endpoint_id, post.now)
    return secret_page(post, endpoint, rotated=True)


@router.get("/webhooks/{endpoint_id}/delete", response_class=HTMLResponse)
async def delete_webhook_page(
    endpoint_id: EndpointId, uow: UnitOfWorkDep, dashboard: DashboardDep, signed_in: SignedInDep
) -> HTMLResponse:
    """The confirmation: which endpoint, and what deleting it stops."""
    endpoint = await endpoints.get_endpoint(uow.session, signed_in.principal, endpoint_id)
    item = views.endpoint_view(endpoint)
    return dashboard.page("delete_webhook.html", signed_in=signed_in, section="webhooks", item=item)


@router.post("/webhooks/{endpoint_id}/delete")
async def delete_webhook(endpoint_id: EndpointId, post: PostedDep) -> Response:
    """``DELETE /api/v1/webhooks/{id}/``: nothing more is sent to it."""
    await endpoints.delete_endpoint(post.uow.session, post.principal, endpoint_id)
    return see_other("/dashboard/webhooks/?done=deleted")
