"""The two routes of a checkout — fetch the code, redeem it — found without FastAPI's router.

FastAPI (0.165) matches a request against the routes of every included router, twice, and
wraps the endpoint in its exception and exit-stack layers: ~140 µs a request on this
project's machine, as much as the whole of a bare FastAPI endpoint (benchmarks/README.md).
These two routes are the flash sale, so this layer dispatches them itself, to the very
endpoint functions the routers declare — the OpenAPI document, the validation and every
answer stay the same — and renders their errors with the same problem handlers.
Everything else, and anything unusual about these two (a code reference too long, say),
goes to FastAPI as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from discounts.api import codes, problems, usage
from discounts.errors import DiscountsError

REDEEM_PATH = "/api/v1/discountcodeusage/"
CODE_PREFIX = "/api/v1/discountcode/"
#: The longest code reference (a SHA-256 hash or a code string); longer ones get FastAPI's 422.
MAX_REF = 64


class HotRoutes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: dict[object, BaseRoute] = {
            endpoint: next(route for route in router.routes if getattr(route, "endpoint", None) is endpoint)
            for router, endpoint in ((usage.router, usage.use_code), (codes.router, codes.get_code))
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if path == REDEEM_PATH and method == "POST":
                await self._serve(scope, receive, send, usage.use_code)
                return
            if method == "GET" and path.startswith(CODE_PREFIX):
                ref = path[len(CODE_PREFIX) : -1]
                if 0 < len(ref) <= MAX_REF and path.endswith("/") and "/" not in ref:
                    await self._serve(scope, receive, send, codes.get_code, ref)
                    return
        await self.app(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, endpoint: Callable[..., Awaitable[Response]], *args: str
    ) -> None:
        scope["route"] = self._routes[endpoint]  # what FastAPI's router would have set (metrics label it)
        request = Request(scope, receive, send)
        try:
            response = await endpoint(*args, request)
        except DiscountsError as exc:
            response = await problems.domain_error(request, exc)
        except RequestValidationError as exc:
            response = await problems.validation_error(request, exc)
        await response(scope, receive, send)
