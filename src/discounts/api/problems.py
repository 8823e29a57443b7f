"""RFC 9457 problem details for every error, so clients handle one shape."""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import compile_path

from discounts import logs
from discounts.api.bodies import add_documented_models
from discounts.errors import UNREACHABLE, DiscountsError, NotCopiedYet, RateLimited, Unauthenticated
from discounts.usage.cart_schemas import RejectedCode

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"

HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}

#: What each documented error status means, for the OpenAPI document.
DESCRIPTIONS = {
    401: "No token, or an invalid, expired or wrongly signed one (`unauthenticated`)",
    403: "The caller may not do this (`forbidden`, `brand_mismatch`, `user_mismatch`, `not_in_group`)",
    404: "No such resource (`code_not_found`, `usage_not_found`, `cart_not_found`, `webhook_not_found`,"
    " `batch_not_found`, ...)",
    409: "A conflict with stored state (`code_exists`, `code_already_used`, `code_not_active`, `code_exhausted`,"
    " `cart_rejected` with `rejected`, `idempotency_in_progress`, `batch_not_ready`)",
    410: "The code's validity has passed (`code_expired`), or the checkout hold has (`hold_expired`)",
    413: "The body is larger than the service takes (`payload_too_large`)",
    415: "The body is not JSON (`unsupported_media_type`)",
    422: "A malformed or out-of-range payload (`validation_error`; `errors` lists each field), a brand the directory"
    " does not know (`brand_not_found`), an order the code does not apply to (`min_amount_not_met`,"
    " `currency_mismatch`, `lines_required`), or an `Idempotency-Key` that came with another request"
    " (`idempotency_key_reused`)",
    429: "Too many requests (`rate_limited`), see `Retry-After`",
    503: "A store the request needs is unreachable (`unavailable`, `not_ready`); retry after `Retry-After`",
}


class FieldError(BaseModel):
    loc: list[str]
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is the stable reason clients switch on."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    request_id: str | None = Field(default=None, description="The request's X-Request-ID, for support and logs")
    errors: list[FieldError] | None = None
    rejected: list[RejectedCode] | None = Field(
        default=None, description="`cart_rejected` only: each code of the cart that would be refused, and why"
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses, all rendered as ``application/problem+json``."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {"description": DESCRIPTIONS[status], "content": {MEDIA_TYPE: {"schema": schema}}}
        for status in statuses
    }


def problem_type(code: str) -> str:
    return f"urn:discounts:problem:{code}"


def problem_body(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    """The problem's members; the dashboard shows the very same ones next to its form's fields."""
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    rid = logs.request_id.get()
    if rid is not None:
        body["request_id"] = rid
    if errors is not None:
        body["errors"] = errors
    return body


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> Response:
    body = problem_body(status, code, title, detail, errors=errors, instance=instance)
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def domain_problem(exc: DiscountsError, instance: str | None = None) -> dict[str, Any]:
    body = problem_body(exc.status, exc.code, exc.title, exc.detail, errors=exc.errors, instance=instance)
    body.update(exc.extensions())
    return body


def validation_problem(errors: Any, instance: str | None = None) -> dict[str, Any]:
    """A 422 ``validation_error`` from Pydantic's errors (their ``loc`` as the request names them)."""
    cleaned = clean_errors(errors)
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in cleaned[:5]) or "invalid request"
    return problem_body(422, "validation_error", "Invalid request", detail, errors=cleaned, instance=instance)


def clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's errors without the echoed input or exception objects (not JSON, maybe secret)."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": error.get("type"),
        }
        for error in errors
    ]


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DiscountsError)
    headers = {}
    if isinstance(exc, Unauthenticated):
        # RFC 6750 §3: no error code when the request carried no credentials at all.
        sent = "authorization" in request.headers
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if sent else "Bearer"
    if isinstance(exc, RateLimited | NotCopiedYet):
        headers["Retry-After"] = str(exc.retry_after)
    body = domain_problem(exc, instance=request.scope["path"])
    return Response(orjson.dumps(body), status_code=exc.status, media_type=MEDIA_TYPE, headers=headers)


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    body = validation_problem(exc.errors(), instance=request.scope["path"])
    return Response(orjson.dumps(body), status_code=422, media_type=MEDIA_TYPE)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        # FastAPI's "error parsing the body" (JSON nested too deep, a 5,000-digit number): a malformed payload.
        errors = [{"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}]
        detail = f"body: {exc.detail}"
        return problem(
            422, "validation_error", "Invalid request", detail, errors=errors, instance=request.scope["path"]
        )
    code = HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    title = code.replace("_", " ").capitalize()
    return problem(exc.status_code, code, title, str(exc.detail), headers=headers, instance=request.scope["path"])


def allowed_methods(request: Request) -> list[str]:
    """Every method the API answers at this path, from its OpenAPI document.

    FastAPI makes one route per method, and Starlette's 405 names only the first route whose
    path matched: ``GET`` alone for a path that also takes ``PUT``.
    """
    app = request.app
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allowed_methods", None)
    if table is None:
        table = []
        for template, operations in app.openapi()["paths"].items():
            pattern, _, _ = compile_path(template.rstrip("/") or "/")
            methods = {method.upper() for method in operations}
            table.append((pattern, methods | ({"HEAD"} if "GET" in methods else set())))
        app.state.allowed_methods = table
    path = request.scope["path"].rstrip("/") or "/"
    return sorted({method for pattern, methods in table if pattern.match(path) for method in methods})


#: Seconds a client should wait before retrying a 503: a restarted Redis or a failover takes a few.
RETRY_UNAVAILABLE_SECONDS = 1


async def unavailable(request: Request, exc: Exception) -> Response:
    """503 with ``Retry-After``: nothing was acknowledged, so the same request may simply be sent again."""
    log.warning("a store is unreachable on %s %s: %s", request.method, request.url.path, exc.__class__.__name__)
    detail = "a store this request needs is unreachable; nothing was recorded, retry shortly"
    headers = {"Retry-After": str(RETRY_UNAVAILABLE_SECONDS)}
    return problem(503, "unavailable", "Service unavailable", detail, headers=headers, instance=request.scope["path"])


async def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(
        500, "internal_error", "Internal error", "an unexpected error occurred", instance=request.scope["path"]
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(DiscountsError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    for failure in UNREACHABLE:
        app.add_exception_handler(failure, unavailable)
    app.add_exception_handler(Exception, unexpected)
    _document_problems(app)


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the API really answers on errors.

    FastAPI documents a 422 with its own ``HTTPValidationError`` shape as JSON; we answer
    problem details, every authenticated operation can also answer 401, 403 and 429, and every
    one that takes an ``Idempotency-Key`` 409 (its first request still running).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    _add_problem_responses(operation)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            add_documented_models(schemas)
            problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem_schema.pop("$defs", {}))
            schemas["Problem"] = problem_schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_problem_responses(operation: dict[str, Any]) -> None:
    statuses: list[int] = []
    if operation.get("security"):
        statuses += [401, 403, 429]
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append(422)
    if operation.get("requestBody"):
        statuses += [413, 415]
    if any(parameter.get("name") == "Idempotency-Key" for parameter in operation.get("parameters", [])):
        statuses.append(409)  # idempotency_in_progress
    responses = operation.setdefault("responses", {})
    for status, response in problem_responses(*statuses).items():
        responses[str(status)] = response
