"""The webhooks API (API.md part 3): who sees which endpoint, the secret shown once, rotation, SSRF at save."""

from __future__ import annotations

import base64

import pytest

from discounts.settings import Settings
from tests.api.conftest import assert_problem, error_fields, serve
from tests.conftest import Api, Auth, FakeClock
from tests.webhooks.receiver import Receiver

ALL = ["code.created", "usage.used", "usage.held", "usage.released", "code.exhausted", "batch.done"]


async def test_a_brand_makes_sees_changes_and_deletes_its_own_endpoints(api: Api, receiver: Receiver) -> None:
    await api.brand("acme")
    await api.brand("bolt", "promo@bolt.example")
    made = await api.client.post(
        "/api/v1/webhooks/", json={"url": receiver.url, "description": "CRM"}, headers=api.auth.brand()
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {"id", "url", "events", "description", "enabled", "secret", "created_at", "disabled_reason"}
    assert (body["url"], body["events"], body["description"], body["enabled"]) == (receiver.url, ALL, "CRM", True)
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"][6:])) == 32
    assert made.headers["location"] == f"/api/v1/webhooks/{body['id']}/"
    path = f"/api/v1/webhooks/{body['id']}/"

    shown = await api.client.get(path, headers=api.auth.brand())
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    listed = await api.client.get("/api/v1/webhooks", headers=api.auth.brand())
    assert [e["id"] for e in listed.json()] == [body["id"]]
    assert "secret" not in listed.json()[0]
    assert (await api.client.get("/api/v1/webhooks/", headers=api.auth.brand("bolt"))).json() == []
    assert_problem(await api.client.get(path, headers=api.auth.brand("bolt")), 404, "webhook_not_found")
    assert_problem(await api.client.get(path, headers=api.auth.service()), 404, "webhook_not_found")
    assert_problem(await api.client.get("/api/v1/webhooks/", headers=api.auth.user()), 403, "forbidden")

    patched = await api.client.patch(path, json={"events": ["usage.used"], "enabled": False}, headers=api.auth.brand())
    assert (patched.json()["events"], patched.json()["enabled"], patched.json()["description"]) == (
        ["usage.used"],
        False,
        "CRM",
    )
    assert (await api.client.delete(path, headers=api.auth.brand())).status_code == 204
    assert_problem(await api.client.delete(path, headers=api.auth.brand()), 404, "webhook_not_found")


async def test_rotation_shows_a_new_secret_once(api: Api, receiver: Receiver) -> None:
    made = (await api.client.post("/api/v1/webhooks/", json={"url": receiver.url}, headers=api.auth.service())).json()
    rotated = await api.client.post(f"/api/v1/webhooks/{made['id']}/secret/", headers=api.auth.service())
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != made["secret"]
    assert_problem(
        await api.client.post(f"/api/v1/webhooks/{made['id']}/secret/", headers=api.auth.service("other")),
        404,
        "webhook_not_found",
    )


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("ftp://hooks.example/x", "url"),
        ("http://", "url"),
        ("https://hooks.example/" + "x" * 2048, "url"),
        ("http://hooks.example:,0r$0~/x", "url"),  # schemathesis found a port that only failed on delivery
        ("http://hooks.example:70000/x", "url"),
        ("http://hooks.example:0/x", "url"),
    ],
)
async def test_a_malformed_endpoint_is_refused_by_its_field(api: Api, url: str, field: str) -> None:
    refused = await api.client.post("/api/v1/webhooks/", json={"url": url}, headers=api.auth.service())
    assert error_fields(assert_problem(refused, 422, "validation_error")) == [field]


async def test_unknown_events_and_fields_are_refused(api: Api, receiver: Receiver) -> None:
    for body in ({"url": receiver.url, "events": ["usage.eaten"]}, {"url": receiver.url, "secret": "whsec_x"}):
        refused = await api.client.post("/api/v1/webhooks/", json=body, headers=api.auth.service())
        assert_problem(refused, 422, "validation_error")
    assert (await api.client.get("/api/v1/webhooks/", headers=api.auth.service())).json() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://[::ffff:192.168.0.1]/x",
        "http://224.0.0.1/x",
    ],
)
async def test_an_address_that_is_not_public_is_refused_when_saved(
    settings: Settings, clock: FakeClock, auth: Auth, url: str
) -> None:
    async with serve(settings.model_copy(update={"webhook_allow_private": False}), clock) as client:
        refused = await client.post("/api/v1/webhooks/", json={"url": url}, headers=auth.service())
        assert error_fields(assert_problem(refused, 422, "validation_error")) == ["url"]
        made = await client.post("/api/v1/webhooks/", json={"url": "http://93.184.215.14/x"}, headers=auth.service())
        assert made.status_code == 201
        patched = await client.patch(
            f"/api/v1/webhooks/{made.json()['id']}/", json={"url": url}, headers=auth.service()
        )
        assert error_fields(assert_problem(patched, 422, "validation_error")) == ["url"]


@pytest.mark.parametrize("description", ["\x00", "a\x1bb"])
async def test_a_description_with_a_control_character_is_refused_by_its_field(
    api: Api, receiver: Receiver, description: str
) -> None:
    """Schemathesis sent a NUL: PostgreSQL refuses it in text, and the answer was a 500."""
    body = {"url": receiver.url, "description": description}
    refused = await api.client.post("/api/v1/webhooks/", json=body, headers=api.auth.service())
    assert error_fields(assert_problem(refused, 422, "validation_error")) == ["description"]
    listed = await api.client.get("/api/v1/webhooks/", headers=api.auth.service())
    assert listed.json() == []
