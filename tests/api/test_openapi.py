"""The service's OpenAPI document matches API.md: its paths, its bodies, its error shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

#: Every operation API.md pins, as it writes the paths (with the trailing slash).
PINNED = {
    ("put", "/api/v1/brands/{brand_id}/"),
    ("put", "/api/v1/users/{user_id}/"),
    ("post", "/api/v1/users/"),
    ("post", "/api/v1/discountcode/"),
    ("get", "/api/v1/discountcode/{id}/"),
    ("post", "/api/v1/discountcodeusage/"),
    ("post", "/api/v1/discountcodebatch/"),
    ("get", "/api/v1/discountcodebatch/{id}/"),
    ("get", "/api/v1/discountcodebatch/{id}/codes.csv"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
}
REQUEST_BODIES = [
    "BrandIn",
    "UserIn",
    "BulkUserIn",
    "CodeIn",
    "RuleIn",
    "RedemptionIn",
    "CartItem",
    "BatchIn",
    "ImportIn",
]
#: The one path API.md writes as a file, without the trailing slash.
FILE_PATHS = {"/api/v1/discountcodebatch/{id}/codes.csv"}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, ops in document["paths"].items() for method in ops}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]  # type: ignore[no-any-return]
    return schema


def types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema allows, through nested ``anyOf``."""
    if "anyOf" in schema:
        return set().union(*(types(option) for option in schema["anyOf"]))
    return {schema["type"]}


async def test_every_pinned_operation_is_documented(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    assert operations(document) >= PINNED


async def test_api_paths_have_the_trailing_slash(document: dict[str, Any]) -> None:
    api_paths = [path for path in document["paths"] if path.startswith("/api/")]
    assert api_paths
    assert all(path.endswith("/") for path in api_paths if path not in FILE_PATHS), api_paths


async def test_request_bodies_forbid_unknown_fields(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in REQUEST_BODIES:
        assert schemas[name]["additionalProperties"] is False, name


async def test_money_is_a_string_out_and_a_string_or_number_in(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    out = schemas["RedemptionOut"]["properties"]
    for field in ("amount", "discount_amount", "amount_to_pay"):
        assert out[field]["type"] == "string", field
        assert out[field]["pattern"] == r"^[0-9]+\.[0-9]{2}$"
    assert set(schemas["RedemptionOut"]["required"]) >= {"code", "user", "used_at", "amount", "amount_to_pay"}
    assert {"discount", "amount_off", "currency"} <= schemas["RedemptionOut"]["properties"].keys()
    assert types(schemas["RedemptionIn"]["properties"]["amount"]) == {"string", "number", "null"}
    assert types(schemas["CartItem"]["properties"]["price"]) == {"string", "number"}


async def test_code_body_matches_the_contract(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    code_in = schemas["CodeIn"]
    assert set(code_in["required"]) == {"id", "rule", "validity"}
    assert code_in["properties"]["id"]["pattern"] == "^[A-Za-z0-9_-]{3,64}$"
    assert code_in["properties"]["validity"]["format"] == "date-time"
    rule_options = code_in["properties"]["rule"]["anyOf"]
    assert {"$ref": "#/components/schemas/RuleIn"} in rule_options
    assert any(option.get("type") == "integer" for option in rule_options)
    (discount,) = [kind for kind in schemas["RuleIn"]["properties"]["discount"]["anyOf"] if kind["type"] != "null"]
    assert (discount["type"], discount["exclusiveMinimum"], discount["exclusiveMaximum"]) == ("integer", 0, 100)
    rule_out = schemas["RuleOut"]
    assert set(rule_out["required"]) == set(rule_out["properties"])  # every field, null when unset
    view = schemas["CodeView"]["properties"]
    assert {"id", "hash", "rule", "validity", "created_at", "expired", "used"} <= view.keys()
    assert view["validity"]["format"] == "date-time"


async def test_errors_are_documented_as_problem_details(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail", "code"}
    usage = document["paths"]["/api/v1/discountcodeusage/"]["post"]["responses"]
    assert {"201", "401", "403", "404", "409", "410", "415", "422", "429"} <= usage.keys()
    for status, response in usage.items():
        if status.startswith(("4", "5")):
            content = response["content"]
            assert list(content) == ["application/problem+json"], status
            assert resolve(document, content["application/problem+json"]["schema"]) is schemas["Problem"]
    assert "409" in document["paths"]["/api/v1/discountcode/"]["post"]["responses"]
    assert "404" in document["paths"]["/api/v1/discountcode/{id}/"]["get"]["responses"]
    assert "404" in document["paths"]["/api/v1/discountcode/{id}/notifications/"]["get"]["responses"]


async def test_idempotency_key_is_documented_where_it_is_accepted(document: dict[str, Any]) -> None:
    for path in ("/api/v1/discountcodeusage/", "/api/v1/discountcode/", "/api/v1/discountcodebatch/"):
        parameters = document["paths"][path]["post"]["parameters"]
        (header,) = [p for p in parameters if p["name"] == "Idempotency-Key"]
        assert header["in"] == "header"
        assert header["schema"]["maxLength"] == 255


async def test_bearer_security_is_declared(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert any(scheme == {**scheme, "type": "http", "scheme": "bearer"} for scheme in schemes.values())
    for method, path in PINNED:
        if path.startswith("/api/"):
            assert document["paths"][path][method]["security"], (method, path)


async def test_batch_bodies_say_what_the_server_accepts(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    batch = schemas["BatchIn"]
    assert set(batch["required"]) == {"rule", "validity", "count"}
    count, length = batch["properties"]["count"], batch["properties"]["length"]
    assert (count["minimum"], count["maximum"]) == (1, 1_000_000)
    assert (length["minimum"], length["maximum"], length["default"]) == (7, 64, 12)
    (prefix,) = [kind for kind in batch["properties"]["prefix"]["anyOf"] if kind["type"] != "null"]
    assert (prefix["pattern"], prefix["maxLength"]) == ("^[A-Za-z0-9_-]{0,57}$", 57)
    codes = schemas["ImportIn"]["properties"]["codes"]
    assert (codes["minItems"], codes["maxItems"], codes["items"]["pattern"]) == (1, 100_000, "^[A-Za-z0-9_-]{3,64}$")
    out = schemas["BatchOut"]
    assert {"id", "status", "count", "generated"} <= set(out["required"])
    assert out["properties"]["status"]["enum"] == ["queued", "generating", "done", "failed"]
    operations = document["paths"]
    assert "202" in operations["/api/v1/discountcodebatch/"]["post"]["responses"]
    csv = operations["/api/v1/discountcodebatch/{id}/codes.csv"]["get"]["responses"]
    assert list(csv["200"]["content"]) == ["text/csv"]
    assert {"404", "409"} <= csv.keys()
    assert "409" in operations["/api/v1/discountcodeimport/"]["post"]["responses"]
    (parameter,) = operations["/api/v1/discountcodebatch/{id}/"]["get"]["parameters"]
    assert parameter["schema"]["pattern"] == "^[0-9a-f]{32}$"
