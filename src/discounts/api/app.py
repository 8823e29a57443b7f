"""The ASGI application: routers, problem details, metrics, offline docs."""

from __future__ import annotations

import gc
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from discounts import logs, metrics
from discounts.api import (
    batches,
    carts,
    codes,
    dashboard_auth,
    dashboard_batches,
    dashboard_pages,
    dashboard_support,
    dashboard_webhooks,
    directory,
    notifications,
    ops,
    problems,
    stats,
    usage,
    webhooks,
)
from discounts.api.bodies import is_json
from discounts.api.deps import raw_header
from discounts.api.hot_routes import HotRoutes, with_trailing_slash
from discounts.api.idempotency import Idempotent
from discounts.clock import Clock, utcnow
from discounts.jobs.queue import TaskPublisher, make_celery
from discounts.runtime import Runtime
from discounts.settings import Settings, get_settings


class OptionalTrailingSlash:
    """``/api/v1/discountcode`` answers like ``/api/v1/discountcode/``, with no redirect.

    The one path that names a file (a batch's ``codes.csv``) is left as it is: that is its only form.
    """

    FILE = re.compile(r"^/api/v1/discountcodebatch/[^/]+/codes\.csv$")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and path.startswith("/api/")
            and not path.endswith("/")
            and not self.FILE.match(path)
        ):
            scope = with_trailing_slash(scope)
        await self.app(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    """A body is on its way: a non-zero Content-Length, or a chunked one (HTTP/1.1 has no other)."""
    length = raw_header(scope, b"content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return raw_header(scope, b"transfer-encoding") is not None


class RequireJsonBody:
    """A body in another format gets 415, not a puzzling 422 about the body's shape.

    A request without a Content-Type is read as JSON, as FastAPI does; one without a body
    (a confirm, a test ping) has nothing to refuse, whatever its Content-Type says.
    """

    METHODS = frozenset({"POST", "PUT", "PATCH"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in self.METHODS
            and scope["path"].startswith("/api/")
            and not scope["path"].startswith(notifications.FORM_PATHS)
        ):
            content_type = raw_header(scope, b"content-type")
            if content_type is not None and not is_json(content_type) and _has_body(scope):
                detail = f"send the body as JSON with Content-Type: application/json, not {content_type!r}"
                refusal = problems.problem(
                    415, "unsupported_media_type", "Unsupported media type", detail, instance=scope["path"]
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


#: Allocations between young-generation collections (CPython's default is 700). A request makes a few
#: hundred short-lived objects; collecting every couple of requests costs more than the garbage.
GC_THRESHOLD = (20_000, 20, 20)


def settle_garbage_collector() -> None:
    """Keep the collector's full passes short, so they do not show in the latency tail.

    A full collection walks every tracked object; after start-up that is ~180,000 objects of
    modules, models and schemas that will live as long as the process, and one pass took
    ~200 ms (the p99 of a paced flash sale, benchmarks/README.md). ``gc.freeze`` moves them
    out of the collector's sight; only what requests create is walked from then on.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


class LimitBody:
    """Bodies over a size get 413 before they are read whole (a slow client sending gigabytes).

    A ``Content-Length`` above the limit is refused at once, without reading; a body that
    grows past it while it streams (chunked, or a lying length) stops the read with the same
    413 from whichever route was reading. The bulk directory upsert, up to 100,000 users,
    and the import of up to 100,000 codes have a limit of their own.
    """

    def __init__(self, app: ASGIApp, limit: int, larger: dict[str, int]) -> None:
        self.app, self.limit, self.larger = app, limit, larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = self.larger.get(path if path.endswith("/") else path + "/", self.limit)
        declared = raw_header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit, path)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, _too_large_detail(limit))
            return message

        await self.app(scope, counted, send)


def _too_large_detail(limit: int) -> str:
    return f"the body is larger than {limit:,} bytes"


def _too_large(limit: int, path: str) -> Response:
    return problems.problem(413, "payload_too_large", "Payload too large", _too_large_detail(limit), instance=path)


def put_hot_routes_outside(app: FastAPI, settings: Settings) -> None:
    """Layers outside FastAPI's own: ``Observe``, the body limit, ``Idempotency-Key``, the checkout's ``HotRoutes``.

    ``add_middleware`` puts a layer inside Starlette's error layer and FastAPI's telemetry and
    body-limit layers; the hot routes would pay for those on every request though they
    answer every error themselves, and ``Observe`` must see every answer, the hot ones too.
    """
    build_framework_stack = app.build_middleware_stack

    larger = {path: settings.max_bulk_body_bytes for path in ("/api/v1/users/", "/api/v1/discountcodeimport/")}

    def build_middleware_stack() -> ASGIApp:
        return Observe(LimitBody(Idempotent(HotRoutes(build_framework_stack())), settings.max_body_bytes, larger))

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, clock: Clock = utcnow) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.start(settings, clock, TaskPublisher(make_celery(settings)))
        app.state.runtime = runtime
        settle_garbage_collector()
        try:
            yield
        finally:
            await runtime.stop()

    # /docs and /redoc with Swagger UI 5 and ReDoc from the installed package: no CDN, and OpenAPI 3.1
    # (which the Swagger UI 4 of swagger-ui-bundle could not render); no online validator badge either.
    app = FastAPIOffline(
        title="Discount codes",
        version="1.0.0",
        summary="Brands create codes, users are e-mailed them, each user redeems a code once.",
        docs_url="/docs",
        redoc_url="/redoc",
        static_url="/docs/static",
        swagger_ui_parameters={"validatorUrl": None},
        lifespan=lifespan,
        redirect_slashes=False,
        # A body without Content-Type is read as JSON (bearer tokens, not cookies: no CSRF to fear);
        # one with another Content-Type gets 415 from RequireJsonBody.
        strict_content_type=False,
        # FastAPI's OpenTelemetry hooks ask on every request whether a provider is configured;
        # the service reports through Prometheus (/metrics) and the logs instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    problems.install(app)
    for module in (directory, codes, batches, usage, carts, notifications, stats, webhooks, dashboard_auth, ops):
        app.include_router(module.router)
    pages = [dashboard_auth.pages, dashboard_pages.router, dashboard_batches.router, dashboard_webhooks.router]
    for router in pages:
        app.include_router(router)
    dashboard_support.install(app, pages)
    app.add_middleware(RequireJsonBody)
    app.add_middleware(OptionalTrailingSlash)
    put_hot_routes_outside(app, settings)
    return app


#: Methods counted under their own name; anything else a client invents is counted as "other".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Observe:
    """Request id, metrics and the access line, for every request, as plain ASGI.

    ``X-Request-ID`` is taken from the request when it is sane (``logs.accept_request_id``) or
    made up, set for every log line of the request, and returned in the response; problem
    details carry it too. A pure ASGI layer costs a few microseconds; Starlette's
    ``BaseHTTPMiddleware`` (``@app.middleware("http")``) ran each request in a task of its own.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = logs.accept_request_id(raw_header(scope, b"x-request-id"))
        token = logs.request_id.set(rid)
        status = 500
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            metrics.observe_request(method, getattr(route, "path", "unmatched"), status, seconds)
            logs.log_request(scope["method"], scope["path"], status, seconds)
            logs.request_id.reset(token)
