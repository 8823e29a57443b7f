"""API.md's conventions: problem details, optional trailing slash, JSON only, operations endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from discounts.settings import Settings
from tests.api.conftest import assert_problem, serve
from tests.conftest import Api, Auth, FakeClock


async def test_paths_without_trailing_slash_answer_directly(api: Api) -> None:
    service, brand, user = api.auth.service(), api.auth.brand(), api.auth.user()
    code = {"id": "SPRING", "rule": {"brand": "acme", "discount": 10}, "validity": "2027-05-31T23:59:59Z"}
    steps = [
        ("PUT", "/api/v1/brands/acme", {"name": "Acme", "email": "a@acme.example"}, service, 201),
        ("PUT", "/api/v1/users/u-1", {"email": "u@example.com"}, service, 201),
        ("POST", "/api/v1/users", [{"id": "u-2", "email": "v@example.com"}], service, 200),
        ("POST", "/api/v1/discountcode", code, brand, 201),
        ("GET", "/api/v1/discountcode/spring", None, user, 200),
        ("POST", "/api/v1/discountcodeusage", {"code": "spring", "user": "u-1", "amount": "1"}, user, 201),
        ("GET", "/api/v1/discountcode/nosuchcode", None, user, 404),
    ]
    for method, path, body, headers, status in steps:
        response = await api.client.request(method, path, json=body, headers=headers)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        assert "location" not in response.headers or response.status_code == 201


async def test_malformed_json_is_422(api: Api) -> None:
    headers = {**api.auth.service(), "Content-Type": "application/json"}
    for raw in (b"{", b'{"name": "Acme",}', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b"null", b'"text"'):
        response = await api.client.put("/api/v1/brands/acme/", content=raw, headers=headers)
        assert_problem(response, 422, "validation_error", raw[:20])


async def test_other_content_types_are_415(api: Api) -> None:
    body = b'{"name": "Acme", "email": "a@acme.example"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"):
        headers = {**api.auth.service(), "Content-Type": content_type}
        response = await api.client.put("/api/v1/brands/acme/", content=body, headers=headers)
        assert_problem(response, 415, "unsupported_media_type", content_type)
    assert (await api.client.get("/api/v1/brands/acme/", headers=api.auth.service())).status_code == 404


async def test_a_request_without_a_body_is_not_refused_for_its_content_type(api: Api) -> None:
    """A confirm carries no body: a stray Content-Type gets the operation's own answer, not 415 (schemathesis)."""
    path = f"/api/v1/cartredemption/{'d' * 32}/confirm/"
    for content_type in ("text/plain", "ee0'"):
        headers = {**api.auth.user(), "Content-Type": content_type}
        assert_problem(await api.client.post(path, headers=headers), 404, "cart_not_found")
        refused = await api.client.post(path, content=_streamed(b"x"), headers=headers)  # chunked: no length
        assert_problem(refused, 415, "unsupported_media_type", content_type)


async def _streamed(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def test_json_content_types_are_accepted(api: Api) -> None:
    body = b'{"name": "Acme", "email": "a@acme.example"}'
    for content_type in ("application/json; charset=utf-8", "Application/JSON", None):
        headers = api.auth.service() | ({"Content-Type": content_type} if content_type else {})
        response = await api.client.put("/api/v1/brands/acme/", content=body, headers=headers)
        assert response.status_code in (200, 201), (content_type, response.text)


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient, auth: Auth) -> None:
    for path in ("/api/v1/nothing/", "/api/v2/discountcode/", "/nothing"):
        assert_problem(await client.get(path, headers=auth.user()), 404, "not_found")


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.delete("/api/v1/discountcodeusage/", headers=auth.user())
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]
    assert_problem(await client.put("/api/v1/discountcode/", headers=auth.user()), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/brands/acme/", {"GET", "HEAD", "PUT"}),
        ("/api/v1/users/u-1/", {"GET", "HEAD", "PUT"}),
        ("/api/v1/discountcode/", {"GET", "HEAD", "POST"}),
        ("/api/v1/discountrule", {"GET", "HEAD", "POST"}),
        ("/api/v1/discountcodebatch/", {"GET", "HEAD", "POST"}),
        ("/api/v1/discountcodebatch/0123456789abcdef0123456789abcdef/codes.csv", {"GET", "HEAD"}),
        ("/api/v1/unsubscribe/", {"GET", "HEAD", "POST"}),
    ],
)
async def test_a_405_names_every_method_of_the_path(
    client: httpx.AsyncClient, auth: Auth, path: str, methods: set[str]
) -> None:
    response = await client.patch(path, headers=auth.service())
    assert_problem(response, 405, "method_not_allowed", path)
    assert set(response.headers["allow"].split(", ")) == methods


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ok",
        "checks": {"database": "ok", "usage_store": "ok", "broker": "ok"},
    }


async def test_metrics_count_requests_and_redemptions(api: Api) -> None:
    await api.brand()
    await api.code()
    assert (await api.redeem()).status_code == 201
    assert (await api.redeem()).status_code == 409
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE discounts_http_requests_total counter" in text
    assert 'discounts_http_requests_total{method="POST",route="/api/v1/discountcode/",status="201"}' in text
    assert 'discounts_redemptions_total{outcome="redeemed"}' in text
    assert 'discounts_redemptions_total{outcome="code_already_used"}' in text
    assert "discounts_http_request_seconds_bucket" in text


async def test_rate_limit(settings: Settings, clock: FakeClock) -> None:
    limited = settings.model_copy(update={"rate_limit": "5/minute"})
    auth = Auth(limited)
    async with serve(limited, clock) as client:
        statuses = [(await client.get("/api/v1/discountcode/ABC/", headers=auth.user())).status_code for _ in range(5)]
        assert statuses == [404] * 5
        refused = await client.get("/api/v1/discountcode/ABC/", headers=auth.user())
        problem = assert_problem(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["retry-after"]) <= 60, problem
        other_user = await client.get("/api/v1/discountcode/ABC/", headers=auth.user("u-2"))
        assert other_user.status_code == 404  # the limit is per caller
