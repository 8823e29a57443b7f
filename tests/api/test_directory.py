"""The directory the marketplace keeps in sync (role ``service``): brands, users, bulk users."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import assert_problem
from tests.conftest import Api, FakeClock


async def test_put_brand_creates_then_updates(api: Api, clock: FakeClock) -> None:
    url, headers = "/api/v1/brands/acme/", api.auth.service()
    created = await api.client.put(url, json={"name": "Acme", "email": "promo@acme.example"}, headers=headers)
    assert created.status_code == 201, created.text
    clock.advance(minutes=5)
    updated = await api.client.put(url, json={"name": "Acme Inc.", "email": "deals@acme.example"}, headers=headers)
    assert updated.status_code == 200, updated.text
    assert updated.json() == {
        "id": "acme",
        "name": "Acme Inc.",
        "email": "deals@acme.example",
        "created_at": "2026-01-15T12:00:00Z",
        "updated_at": "2026-01-15T12:05:00Z",
    }
    assert (await api.client.get(url, headers=headers)).json() == updated.json()


async def test_put_user_creates_then_updates_with_group(api: Api) -> None:
    url, headers = "/api/v1/users/u-123/", api.auth.service()
    created = await api.client.put(url, json={"email": "ann@example.com"}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["group"] is None
    updated = await api.client.put(url, json={"email": "ann@example.com", "group": "individual"}, headers=headers)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["id"], updated.json()["group"]) == ("u-123", "individual")
    assert (await api.client.get(url, headers=headers)).json()["group"] == "individual"


async def test_unknown_brand_and_user_are_404(api: Api) -> None:
    headers = api.auth.service()
    assert_problem(await api.client.get("/api/v1/brands/nobody/", headers=headers), 404, "brand_not_found")
    assert_problem(await api.client.get("/api/v1/users/nobody/", headers=headers), 404, "user_not_found")


async def test_bulk_upsert_of_ten_thousand_users(api: Api) -> None:
    users = [{"id": f"u-{i:05d}", "email": f"u{i}@example.com", "group": "individual"} for i in range(10_000)]
    headers = api.auth.service()
    first = await api.client.post("/api/v1/users/", json=users, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 10_000, "created": 10_000, "updated": 0}
    for user in users[:10]:
        user["group"] = "wholesale"
    again = await api.client.post("/api/v1/users/", json=users, headers=headers)
    assert again.json() == {"received": 10_000, "created": 0, "updated": 10_000}
    assert (await api.client.get("/api/v1/users/u-00009/", headers=headers)).json()["group"] == "wholesale"
    assert (await api.client.get("/api/v1/users/u-09999/", headers=headers)).json()["email"] == "u9999@example.com"


async def test_bulk_counts_created_and_updated(api: Api) -> None:
    await api.user("u-1")
    users = [{"id": "u-1", "email": "new@example.com"}, {"id": "u-2", "email": "two@example.com"}]
    response = await api.client.post("/api/v1/users/", json=users, headers=api.auth.service())
    assert response.json() == {"received": 2, "created": 1, "updated": 1}


async def test_bulk_refuses_the_whole_request(api: Api) -> None:
    first = {"id": "u-1", "email": "a@example.com"}
    cases: dict[str, Any] = {
        "bad-email": [first, {"id": "u-2", "email": "not-an-email"}],
        "bad-id": [first, {"id": "-bad", "email": "b@example.com"}],
        "unknown-field": [first | {"role": "admin"}],
        "no-id": [{"email": "a@example.com"}],
        "not-an-array": first,
    }
    for case, users in cases.items():
        response = await api.client.post("/api/v1/users/", json=users, headers=api.auth.service())
        assert_problem(response, 422, "validation_error", case)
    assert_problem(await api.client.get("/api/v1/users/u-1/", headers=api.auth.service()), 404, "user_not_found")


async def test_an_id_given_twice_ends_as_its_last_row(api: Api) -> None:
    """As if the rows were PUT one after another; each user is counted once."""
    users = [{"id": f"u-{i}", "email": f"{i}@example.com"} for i in range(3)] + [
        {"id": "u-1", "email": "x@example.com"}
    ]
    response = await api.client.post("/api/v1/users/", json=users, headers=api.auth.service())
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 4, "created": 3, "updated": 0}
    fetched = await api.client.get("/api/v1/users/u-1/", headers=api.auth.service())
    assert fetched.json()["email"] == "x@example.com"


async def test_bad_bodies_are_422(api: Api) -> None:
    cases: list[tuple[str, Any]] = [
        ("/api/v1/brands/acme/", {"name": "Acme", "email": "not-an-email"}),
        ("/api/v1/brands/acme/", {"name": "", "email": "a@acme.example"}),
        ("/api/v1/brands/acme/", {"name": "A\u0000B", "email": "a@acme.example"}),  # PostgreSQL refuses NUL
        ("/api/v1/brands/acme/", {"name": "A" * 201, "email": "a@acme.example"}),
        ("/api/v1/brands/acme/", {"name": "Acme"}),
        ("/api/v1/brands/acme/", {"name": "Acme", "email": "a@acme.example", "vip": True}),
        ("/api/v1/users/u-1/", {"email": "ann@"}),
        ("/api/v1/users/u-1/", {"email": "ann@example.com", "group": "no spaces"}),
        ("/api/v1/users/u-1/", {"email": "ann@example.com", "age": 3}),
        ("/api/v1/users/u-1/", []),
    ]
    for url, payload in cases:
        response = await api.client.put(url, json=payload, headers=api.auth.service())
        assert_problem(response, 422, "validation_error", payload)
    for url in ("/api/v1/brands/acme/", "/api/v1/users/u-1/"):
        assert (await api.client.get(url, headers=api.auth.service())).status_code == 404


async def test_bad_ids_in_the_path_are_refused(api: Api) -> None:
    headers = api.auth.service()
    for bad_id in ("-acme", "a%20b", "%C3%A4", "a" * 65, ".x", "a%2Fb"):
        brand = await api.client.put(
            f"/api/v1/brands/{bad_id}/", json={"name": "A", "email": "a@a.example"}, headers=headers
        )
        user = await api.client.put(f"/api/v1/users/{bad_id}/", json={"email": "a@a.example"}, headers=headers)
        # a slash is no id at all: no such route
        status, code = (404, "not_found") if bad_id == "a%2Fb" else (422, "validation_error")
        assert_problem(brand, status, code, bad_id)
        assert_problem(user, status, code, bad_id)


async def test_concurrent_upserts_of_one_id_all_succeed(api: Api) -> None:
    """Two syncs racing on a new id must not collide on the primary key (that was a 500)."""
    headers = api.auth.service()
    users = await asyncio.gather(
        *(api.client.put("/api/v1/users/new/", json={"email": f"a{i}@example.com"}, headers=headers) for i in range(10))
    )
    brands = await asyncio.gather(
        *(
            api.client.put("/api/v1/brands/new/", json={"name": f"N{i}", "email": "n@new.example"}, headers=headers)
            for i in range(10)
        )
    )
    batch = [{"id": f"b-{i}", "email": f"b{i}@example.com"} for i in range(50)]
    bulks = await asyncio.gather(*(api.client.post("/api/v1/users/", json=batch, headers=headers) for _ in range(5)))
    for responses in (users, brands):
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200] * 9 + [201], [response.text for response in responses]
    assert [response.status_code for response in bulks] == [200] * 5
    assert sum(response.json()["created"] for response in bulks) == 50


async def test_a_sync_keeps_the_users_unsubscribe(api: Api) -> None:
    """``unsubscribed`` is changed only when the marketplace sends it."""
    headers = api.auth.service()
    await api.client.put("/api/v1/users/u-1/", json={"email": "a@example.com", "unsubscribed": True}, headers=headers)
    await api.client.post("/api/v1/users/", json=[{"id": "u-1", "email": "b@example.com"}], headers=headers)
    again = await api.client.put("/api/v1/users/u-1/", json={"email": "c@example.com"}, headers=headers)
    assert (again.json()["email"], again.json()["unsubscribed"]) == ("c@example.com", True)
    resumed = await api.client.post(
        "/api/v1/users/", json=[{"id": "u-1", "email": "c@example.com", "unsubscribed": False}], headers=headers
    )
    assert resumed.json() == {"received": 1, "created": 0, "updated": 1}
    assert (await api.client.get("/api/v1/users/u-1/", headers=headers)).json()["unsubscribed"] is False
