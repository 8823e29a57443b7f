"""RFC 9457 problem details for every error, so clients handle one shape."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from discounts.errors import DiscountsError, InvalidInput, RateLimited, Unauthenticated

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"

HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}


def problem_type(code: str) -> str:
    return f"urn:discounts:problem:{code}"


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
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's errors without the echoed input or exception objects (not JSON, maybe secret)."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": error.get("type"),
        }
        for error in errors
    ]


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DiscountsError)
    headers = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    errors = exc.errors if isinstance(exc, InvalidInput) else None
    return problem(
        exc.status, exc.code, exc.title, exc.detail, errors=errors, headers=headers, instance=request.url.path
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_errors(exc.errors())
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5]) or "invalid request"
    return problem(422, "validation_error", "Invalid request", detail, errors=errors, instance=request.url.path)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    title = code.replace("_", " ").capitalize()
    return problem(exc.status_code, code, title, str(exc.detail), headers=headers, instance=request.url.path)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal_error", "Internal error", "an unexpected error occurred", instance=request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DiscountsError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
