"""Authentication (401) and authorisation (403) exactly as API.md pins them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from discounts.settings import Settings
from tests.api.conftest import assert_problem, serve
from tests.conftest import SECRET, Api, Auth, FakeClock, make_token
from tests.unit.keys import KeyPair, hs256_token, key_pair, unsigned_token

CODE = {"id": "SPRING", "rule": {"brand": "acme", "discount": 10}, "validity": "2027-05-31T23:59:59Z"}


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "u-1", "role": "user", "exp": int(time.time()) + 600, **extra}


def assert_unauthenticated(response: httpx.Response, case: object = None) -> None:
    assert_problem(response, 401, "unauthenticated", case)
    assert response.headers["www-authenticate"].startswith("Bearer"), case


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_every_protected_operation_needs_a_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    protected = [
        (
            method.upper(),
            path.replace("{brand_id}", "acme")
            .replace("{user_id}", "u-1")
            .replace("{id}", "0" * 32 if path.startswith("/api/v1/cartredemption/") else "ABC")
            .replace("{usage_id}", "WyJBQkMiLCJ1LTEiLDFd"),  # ["ABC","u-1",1]
        )
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    ]
    assert len(protected) >= 7
    for method, path in protected:
        response = await client.request(method, path, json={})
        assert_unauthenticated(response, (method, path))
        assert response.headers["www-authenticate"] == "Bearer"  # RFC 6750: no error code without credentials


BAD_TOKENS: dict[str, Callable[[], str]] = {
    "malformed": lambda: "abc.def",
    "not-base64": lambda: "!!!.!!!.!!!",
    "bad-signature": lambda: hs256_token(claims(), b"some-other-secret-that-is-long-enough-012345"),
    "expired": lambda: hs256_token(claims(exp=int(time.time()) - 3600), SECRET.encode()),
    "alg-none": lambda: unsigned_token(claims()),
    "rs256-without-public-key": lambda: jwt.encode(claims(), key_pair("RS256").private_pem, algorithm="RS256"),
    "no-role": lambda: hs256_token({k: v for k, v in claims().items() if k != "role"}, SECRET.encode()),
    "unknown-role": lambda: hs256_token(claims(role="admin"), SECRET.encode()),
    "no-exp": lambda: hs256_token({"sub": "u-1", "role": "user"}, SECRET.encode()),
    "no-sub": lambda: hs256_token({"role": "user", "exp": int(time.time()) + 600}, SECRET.encode()),
    "brand-without-brand": lambda: hs256_token(claims(role="brand"), SECRET.encode()),
}


async def test_bad_tokens_are_401(client: httpx.AsyncClient) -> None:
    for kind, token in BAD_TOKENS.items():
        response = await client.get("/api/v1/discountcode/ABC/", headers=bearer(token()))
        assert_unauthenticated(response, kind)
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"', kind


async def test_other_schemes_are_401(client: httpx.AsyncClient) -> None:
    token = hs256_token(claims(), SECRET.encode())
    assert_unauthenticated(await client.get("/api/v1/discountcode/ABC/", headers={"Authorization": f"Basic {token}"}))
    assert_unauthenticated(await client.get("/api/v1/discountcode/ABC/", headers={"Authorization": token}))


async def test_a_good_hand_made_token_passes(client: httpx.AsyncClient) -> None:
    """The control for the refusals above: the same construction with the right secret gets through."""
    response = await client.get("/api/v1/discountcode/ABC/", headers=bearer(hs256_token(claims(), SECRET.encode())))
    assert_problem(response, 404, "code_not_found")


@pytest.fixture(params=["RS256", "ES256"])
def keys(request: pytest.FixtureRequest) -> KeyPair:
    return key_pair(request.param)


@pytest.fixture
def keyed_settings(keys: KeyPair, settings: Settings) -> Settings:
    return settings.model_copy(update={"jwt_public_key": keys.public_pem, "jwt_private_key": keys.private_pem})


async def test_asymmetric_tokens_run_the_whole_flow(keys: KeyPair, keyed_settings: Settings, clock: FakeClock) -> None:
    auth = Auth(keyed_settings)
    assert jwt.get_unverified_header(make_token(keyed_settings, "user", "u-1"))["alg"] == keys.algorithm
    async with serve(keyed_settings, clock) as client:
        api = Api(client, auth)
        await api.brand()
        await api.code()
        assert (await api.redeem()).status_code == 201


async def test_algorithm_confusion_is_401(keyed_settings: Settings, clock: FakeClock) -> None:
    """HS256 signed with the public key's PEM as the secret must not pass for the asymmetric key."""
    assert keyed_settings.jwt_public_key is not None
    forged = hs256_token(claims(), keyed_settings.jwt_public_key.encode())
    wrong_pair = jwt.encode(claims(), key_pair("RS256", variant=1).private_pem, algorithm="RS256")
    async with serve(keyed_settings, clock) as client:
        for token in (forged, wrong_pair, unsigned_token(claims())):
            assert_unauthenticated(await client.get("/api/v1/discountcode/ABC/", headers=bearer(token)))


async def test_public_key_from_a_file(settings: Settings, clock: FakeClock, tmp_path: Any) -> None:
    keys = key_pair("ES256")
    (tmp_path / "public.pem").write_text(keys.public_pem)
    keyed = settings.model_copy(update={"jwt_public_key": str(tmp_path / "public.pem")})
    token = jwt.encode(claims(), keys.private_pem, algorithm="ES256")
    async with serve(keyed, clock) as client:
        response = await client.get("/api/v1/discountcode/ABC/", headers=bearer(token))
    assert_problem(response, 404, "code_not_found")


async def test_user_cannot_create_codes_or_rules(api: Api) -> None:
    await api.brand()
    for path, body in (("/api/v1/discountcode/", CODE), ("/api/v1/discountrule/", CODE["rule"])):
        response = await api.client.post(path, json=body, headers=api.auth.user())
        assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize("role", ["brand", "user"])
async def test_only_the_service_touches_the_directory(api: Api, role: str) -> None:
    headers = api.auth.brand() if role == "brand" else api.auth.user()
    requests = [
        ("PUT", "/api/v1/brands/acme/", {"name": "Acme", "email": "a@acme.example"}),
        ("GET", "/api/v1/brands/acme/", None),
        ("PUT", "/api/v1/users/u-1/", {"email": "u@example.com"}),
        ("GET", "/api/v1/users/u-1/", None),
        ("POST", "/api/v1/users/", [{"id": "u-1", "email": "u@example.com"}]),
    ]
    for method, path, body in requests:
        assert_problem(await api.client.request(method, path, json=body, headers=headers), 403, "forbidden")


@pytest.mark.parametrize("role", ["service", "brand"])
async def test_only_users_redeem(api: Api, role: str) -> None:
    await api.brand()
    await api.code()
    headers = api.auth.service() if role == "service" else api.auth.brand()
    body = {"code": "SPRINGSALE2022", "user": "u-1", "amount": "10"}
    assert_problem(await api.client.post("/api/v1/discountcodeusage/", json=body, headers=headers), 403, "forbidden")


async def test_brand_mismatch(api: Api) -> None:
    await api.brand("acme")
    await api.brand("other", "promo@other.example")
    other_rule = await api.client.post(
        "/api/v1/discountrule/", json={"brand": "other", "discount": 5}, headers=api.auth.brand("other")
    )
    assert other_rule.status_code == 201, other_rule.text
    as_acme = api.auth.brand("acme")
    inline = await api.client.post(
        "/api/v1/discountcode/", json={**CODE, "rule": CODE["rule"] | {"brand": "other"}}, headers=as_acme
    )
    assert_problem(inline, 403, "brand_mismatch")
    by_id = await api.client.post(
        "/api/v1/discountcode/", json={**CODE, "rule": other_rule.json()["id"]}, headers=as_acme
    )
    assert_problem(by_id, 403, "brand_mismatch")
    rule = await api.client.post("/api/v1/discountrule/", json={"brand": "other", "discount": 5}, headers=as_acme)
    assert_problem(rule, 403, "brand_mismatch")
    codes = await api.client.get("/api/v1/discountcode/", headers=as_acme)
    assert codes.json() == []


async def test_user_mismatch(api: Api) -> None:
    await api.brand()
    await api.code()
    body = {"code": "SPRINGSALE2022", "user": "u-2", "amount": "10"}
    response = await api.client.post("/api/v1/discountcodeusage/", json=body, headers=api.auth.user("u-1"))
    assert_problem(response, 403, "user_mismatch")
