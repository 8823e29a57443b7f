"""The routes of a checkout — fetch the code, redeem it or a cart — served ahead of FastAPI's stack.

FastAPI (0.165) matches a request against the routes of every included router, twice, and
wraps the endpoint in its exception and exit-stack layers; before the router, a request also
passes Starlette's error layer, FastAPI's telemetry and body-limit layers and our own slash
and content-type layers: ~140 µs a request on this project's machine, as much as the whole of
a bare FastAPI endpoint (benchmarks/README.md). These routes are the flash sale, so this
layer sits outside all of that (only ``Observe`` is outside it) and does for them what those
layers would: the optional trailing slash, the 415 for a body that is not JSON, the problem
details of every error, a 503 when a store is unreachable, a 500 problem for an unexpected
one. It calls the very endpoint functions the routers declare — the OpenAPI document, the
validation and every answer stay the same. Everything else, and anything unusual about these
(a malformed code reference, say), goes to FastAPI as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from discounts.api import carts, codes, problems, usage
from discounts.api.bodies import is_json
from discounts.api.deps import raw_header
from discounts.errors import UNREACHABLE, DiscountsError
from discounts.fields import is_code_string

REDEEM_PATH = "/api/v1/discountcodeusage/"
CART_PATH = "/api/v1/cartredemption/"
CODE_PREFIX = "/api/v1/discountcode/"


def with_trailing_slash(scope: Scope) -> Scope:
    """The scope of ``/api/v1/discountcode``, answered as ``/api/v1/discountcode/`` (no redirect)."""
    scope = dict(scope, path=scope["path"] + "/")
    if scope.get("raw_path"):
        scope["raw_path"] = scope["raw_path"] + b"/"
    return scope


class HotRoutes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: dict[object, BaseRoute] = {
            endpoint: next(route for route in router.routes if getattr(route, "endpoint", None) is endpoint)
            for router, endpoint in (
                (usage.router, usage.use_code),
                (codes.router, codes.get_code),
                (carts.router, carts.redeem_cart),
            )
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if method == "POST" and (path in (REDEEM_PATH, CART_PATH) or path in (REDEEM_PATH[:-1], CART_PATH[:-1])):
                if not path.endswith("/"):
                    scope = with_trailing_slash(scope)
                content_type = raw_header(scope, b"content-type")
                if content_type is None or is_json(content_type):
                    endpoint = usage.use_code if scope["path"] == REDEEM_PATH else carts.redeem_cart
                    await self._serve(scope, receive, send, endpoint)
                    return
            elif method == "GET" and path.startswith(CODE_PREFIX):
                ref = path[len(CODE_PREFIX) :].removesuffix("/")
                if is_code_string(ref):  # a hash is one too; anything else gets FastAPI's 422
                    if not path.endswith("/"):
                        scope = with_trailing_slash(scope)
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
        except HTTPException as exc:  # the body limit's 413
            response = await problems.http_error(request, exc)
        except UNREACHABLE as exc:
            response = await problems.unavailable(request, exc)
        except Exception as exc:  # noqa: BLE001 - logged with its traceback, answered as a 500 problem
            response = await problems.unexpected(request, exc)
        await response(scope, receive, send)
