"""The ASGI application: routers, problem details, metrics, offline docs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import swagger_ui_bundle
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from discounts import metrics
from discounts.api import codes, directory, notifications, ops, problems, usage
from discounts.api.deps import RateLimit
from discounts.clock import Clock, utcnow
from discounts.runtime import Runtime
from discounts.settings import Settings, get_settings

#: The Swagger UI files shipped inside the swagger-ui-bundle package (no CDN).
SWAGGER_DIR = next((Path(swagger_ui_bundle.__file__).parent / "vendor").glob("swagger-ui-*"))


class OptionalTrailingSlash:
    """``/api/v1/discountcode`` answers like ``/api/v1/discountcode/``, with no redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/") and not scope["path"].endswith("/"):
            scope = dict(scope, path=scope["path"] + "/")
            if scope.get("raw_path"):
                scope["raw_path"] = scope["raw_path"] + b"/"
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, clock: Clock = utcnow) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.start(settings, clock)
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Discount codes",
        version="1.0.0",
        summary="Brands create codes, users are e-mailed them, each user redeems a code once.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.rate_limit = RateLimit(settings.rate_limit)
    problems.install(app)
    for module in (directory, codes, usage, notifications, ops):
        app.include_router(module.router)
    _install_docs(app)
    _install_metrics(app)
    app.add_middleware(OptionalTrailingSlash)
    return app


def _install_docs(app: FastAPI) -> None:
    """Swagger UI from the installed package: /docs works with no internet."""
    app.mount("/docs/static", StaticFiles(directory=SWAGGER_DIR), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Discount codes – API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )


def _install_metrics(app: FastAPI) -> None:
    @app.middleware("http")
    async def record(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
        metrics.REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        return response
