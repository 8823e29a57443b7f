"""Bodies over the configured size: 413 problems before they are read whole, and nothing changes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from discounts.settings import Settings
from tests.api.conftest import assert_problem, serve
from tests.conftest import Api, Auth, FakeClock


@pytest.fixture
async def small(settings: Settings, clock: FakeClock) -> AsyncIterator[Api]:
    limited = settings.model_copy(update={"max_body_bytes": 2048, "max_bulk_body_bytes": 8192})
    async with serve(limited, clock) as client:
        api = Api(client, Auth(limited))
        await api.brand()
        await api.code()
        yield api


async def test_a_declared_length_over_the_limit_is_refused_unread(small: Api) -> None:
    body = b'{"code": "SPRINGSALE2022", "user": "u-1", "amount": "1", "x": "' + b"a" * 4000 + b'"}'
    headers = {**small.auth.user(), "Content-Type": "application/json"}
    for path in ("/api/v1/discountcodeusage/", "/api/v1/discountcodequote/", "/api/v1/discountcode/"):
        response = await small.client.post(path, content=body, headers=headers)
        problem = assert_problem(response, 413, "payload_too_large", path)
        assert "2,048 bytes" in problem["detail"]
    assert (await small.redeem()).status_code == 201  # nothing was used by the refused ones


@pytest.mark.parametrize("key", [None, "order-1"], ids=["plain", "idempotency-key"])
async def test_a_body_that_grows_past_the_limit_while_streaming_is_refused(small: Api, key: str | None) -> None:
    """With an Idempotency-Key the body is read before the request runs: the same 413, not a bare 500."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"code": "SPRINGSALE2022", "user": "u-1", "amount": "1", "x": "'
        for _ in range(10):
            yield b"a" * 500
        yield b'"}'

    headers = {**small.auth.user(), "Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    for path in ("/api/v1/discountcodeusage/", "/api/v1/discountcode/"):
        response = await small.client.post(path, content=chunks(), headers=headers)
        assert_problem(response, 413, "payload_too_large", path)
    assert (await small.redeem()).status_code == 201


async def test_the_bulk_upsert_has_a_larger_limit_of_its_own(small: Api) -> None:
    users = [{"id": f"u-{n}", "email": f"u{n}@example.com"} for n in range(60)]  # ~3 KB: over the general limit
    response = await small.client.post("/api/v1/users/", json=users, headers=small.auth.service())
    assert response.status_code == 200, response.text
    many = [{"id": f"u-{n}", "email": f"u{n}@example.com"} for n in range(400)]  # ~16 KB: over the bulk limit
    refused = await small.client.post("/api/v1/users/", json=many, headers=small.auth.service())
    assert_problem(refused, 413, "payload_too_large")
