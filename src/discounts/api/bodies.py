"""JSON in and out for the hot routes, without FastAPI's per-request body machinery.

The redemption route is the product: FastAPI's body parameter (read, ``json.loads``, validate,
wrap errors) and its response model (validate the returned object again, then serialise)
cost more than the redemption itself. Pydantic validates the raw bytes in one call instead
(``model_validate_json``), and answers are bytes from orjson. The OpenAPI document still
says exactly the same: the route declares its body with :func:`json_body`, and the models
named there are added to the document's components.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

M = TypeVar("M", bound=BaseModel)

#: Models that routes declare by hand (``json_body``), for the OpenAPI document's components.
DOCUMENTED: dict[str, type[BaseModel]] = {}

#: The security requirement of a route that authenticates by itself (``deps.authenticate``).
BEARER: list[dict[str, list[str]]] = [{"HTTPBearer": []}]


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads ``model`` itself: its body and bearer security."""
    DOCUMENTED[model.__name__] = model
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "security": BEARER,
    }


def link(method: str, path: str, description: str, **fields: dict[str, str]) -> dict[str, Any]:
    """An OpenAPI link: what a client does next with an answer (``parameters``, ``requestBody``).

    Values are runtime expressions such as ``$response.body#/id``; a ``requestBody`` names only
    the fields it fills. Stateful fuzzers (schemathesis) follow these to chain operations.
    """
    ref = "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method.lower()
    return {"operationRef": ref, "description": description, **fields}


def links(status: int, **named: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` that gives the ``status`` answer of a route these links."""
    return {"responses": {str(status): {"links": named}}}


def add_documented_models(schemas: dict[str, Any]) -> None:
    for name, model in DOCUMENTED.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema


async def read_body(request: Request, model: type[M]) -> M:
    """The request's JSON body as ``model``; a 422 problem (as FastAPI's) when it is not one."""
    body = await _body(request)
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]) from None


async def _body(request: Request) -> bytes:
    """The whole body, straight from the ASGI messages (Starlette's stream adds a generator per chunk)."""
    chunks = []
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def is_json(content_type: str) -> bool:
    """``application/json`` or a ``+json`` type such as ``application/merge-patch+json``."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")
