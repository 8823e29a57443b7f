"""The dashboard's Webhooks page over HTTP: the secret shown once, the API's errors by their field,
another brand's endpoints not found, tests against a real receiver, deliveries, disable, delete."""

from __future__ import annotations

import re
import socket

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.api.app import create_app
from discounts.settings import Settings
from discounts.webhooks.models import WebhookAttempt, WebhookEndpoint
from tests.conftest import Api, FakeClock
from tests.dashboard.conftest import Browser, signed_in
from tests.dashboard.test_pages import FORM, invalid_fields
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import Pipeline

ADD = "/dashboard/webhooks/new"
LIST = "/dashboard/webhooks/"
SECRET = re.compile(r'<code id="secret" class="secret">(whsec_[A-Za-z0-9+/=]+)</code>')
ROW = re.compile(
    r"<tr>\s*<td>([^<]+)</td>\s*<td><code>([^<]+)</code></td>\s*<td>(\d+)</td>\s*<td>(\w+)</td>\s*<td>([^<]*)</td>"
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receivers listen on loopback, which a deployment's webhooks may not reach."""
    return settings.model_copy(update={"webhook_allow_private": True})


def secret_of(page: httpx.Response) -> str:
    found = SECRET.search(page.text)
    assert found, page.text
    return found.group(1)


async def add(browser: Browser, url: str, **fields: str) -> tuple[str, str]:
    """Add an endpoint through the form: its id and the secret its page showed."""
    page = await browser.post(ADD, {"url": url, **fields})
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    found = re.search(r'href="/dashboard/webhooks/(wh_[0-9a-f]{32})/"', page.text)
    assert found, page.text
    return found.group(1), secret_of(page)


def deliveries(page: httpx.Response) -> list[tuple[str, str, str, str]]:
    """The deliveries table's rows, newest first: (event type, attempt, outcome, response)."""
    return [(kind, attempt, outcome, response) for _, kind, attempt, outcome, response in ROW.findall(page.text)]


async def endpoint_row(sessions: async_sessionmaker[AsyncSession], endpoint_id: str) -> WebhookEndpoint | None:
    async with sessions() as session:
        return await session.get(WebhookEndpoint, endpoint_id)


async def test_an_endpoint_is_added_and_its_secret_shown_once(acme: Browser, api: Api, receiver: Receiver) -> None:
    empty = await acme.client.get(LIST)
    assert empty.status_code == 200
    assert "No endpoints yet" in empty.text
    assert '<a href="/dashboard/webhooks/" aria-current="page">Webhooks</a>' in empty.text
    form = await acme.client.get(ADD)
    assert all(f'name="event:{name}"' in form.text for name in ("code.created", "usage.used", "batch.done"))
    endpoint_id, secret = await add(
        acme, receiver.url, description="CRM", **{"event:usage.used": "yes", "event:code.created": "yes"}
    )
    assert secret.startswith("whsec_")
    made = (await api.client.get(f"/api/v1/webhooks/{endpoint_id}/", headers=api.auth.brand())).json()
    assert (made["url"], sorted(made["events"]), made["description"]) == (
        receiver.url,
        ["code.created", "usage.used"],
        "CRM",
    )

    listing = await acme.client.get(LIST)
    assert receiver.url in listing.text
    assert "usage.used, code.created" in listing.text
    assert "(CRM)" in listing.text
    page = await acme.client.get(f"{LIST}{endpoint_id}/")
    assert page.status_code == 200
    assert "Enabled" in page.text
    assert "No deliveries yet" in page.text

    rotated = await acme.post(f"{LIST}{endpoint_id}/secret")
    assert (rotated.status_code, rotated.headers["cache-control"]) == (200, "no-store")
    new_secret = secret_of(rotated)
    assert new_secret != secret
    assert secret not in rotated.text
    assert "For 24 hours, each delivery is signed with the old secret too" in rotated.text

    # the secrets the pages showed are the ones that sign: a test carries a signature with each
    assert (await acme.post(f"{LIST}{endpoint_id}/test")).status_code == 303
    (ping,) = await receiver.arrived(1, "ping")
    assert ping.verify(new_secret)["type"] == "ping"
    assert ping.verify(secret)["type"] == "ping"

    for path in (LIST, f"{LIST}{endpoint_id}/", f"{LIST}{endpoint_id}/delete", ADD, "/dashboard/"):
        later = await acme.client.get(path)
        assert later.status_code == 200, path
        assert secret not in later.text, path
        assert new_secret not in later.text, path
        assert 'id="secret"' not in later.text, path
    for path in ("/api/v1/webhooks/", f"/api/v1/webhooks/{endpoint_id}/"):
        answer = await api.client.get(path, headers=api.auth.brand())
        assert secret not in answer.text
        assert new_secret not in answer.text


async def test_no_event_ticked_is_every_event(acme: Browser, api: Api, receiver: Receiver) -> None:
    endpoint_id, _ = await add(acme, receiver.url)
    made = (await api.client.get(f"/api/v1/webhooks/{endpoint_id}/", headers=api.auth.brand())).json()
    assert len(made["events"]) == 6
    assert "All, and any added later" in (await acme.client.get(LIST)).text


async def test_the_apis_errors_show_by_their_field_and_nothing_is_saved(
    acme: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    cases = [
        ("not a url", "should match pattern"),
        ("ftp://hooks.example/x", "should match pattern"),
        ("", "should match pattern"),
        ("http://hooks.example:70000/x", "a port from 1 to 65535"),
        ("http://hooks.example:0/x", "port must be from 1 to 65535"),
    ]
    for url, message in cases:
        page = await acme.post(ADD, {"url": url, "description": "CRM", "event:usage.used": "yes"})
        assert page.status_code == 422, url
        assert invalid_fields(page.text) == {"url"}, (url, page.text)
        assert re.search(rf'<small id="e-url" class="error">[^<]*{message}', page.text), (url, page.text)
        assert 'role="alert"' in page.text
        assert '<a href="#f-url">URL</a>' in page.text
        assert f'id="f-url" name="url" type="url" value="{url}"' in page.text  # what was typed comes back
        assert 'value="CRM"' in page.text
        assert re.search(r'name="event:usage\.used" value="yes" checked', page.text)
        assert "whsec_" not in page.text
    unknown = await acme.post(ADD, {"url": "https://hooks.example/x", "event:usage.eaten": "yes"})
    assert unknown.status_code == 422
    assert re.search(r'<small id="e-events" class="error">Input should be', unknown.text)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


async def test_an_address_that_is_not_public_is_refused_by_the_url_field(
    settings: Settings, clock: FakeClock, api: Api, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await api.brand()
    strict = create_app(settings.model_copy(update={"webhook_allow_private": False}), clock=clock)
    async with strict.router.lifespan_context(strict):
        browser = await signed_in(strict, api)
        try:
            for url in ("http://127.0.0.1:9/hooks", "http://10.1.2.3/x", "http://[::1]/x", "http://localhost/x"):
                page = await browser.post(ADD, {"url": url})
                assert page.status_code == 422, url
                assert invalid_fields(page.text) == {"url"}, url
                assert re.search(r'<small id="e-url" class="error">[^<]*which is not a public address<', page.text)
                assert f'value="{url}"' in page.text
        finally:
            await browser.client.aclose()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


async def test_another_brand_can_neither_see_nor_act_on_the_endpoint(
    acme: Browser, api: Api, app: FastAPI, receiver: Receiver, sessions: async_sessionmaker[AsyncSession]
) -> None:
    endpoint_id, secret = await add(acme, receiver.url)
    await api.brand("other", "promo@other.example")
    other = await signed_in(app, api, "other")
    try:
        listing = await other.client.get(LIST)
        assert receiver.url not in listing.text
        assert "No endpoints yet" in listing.text
        for path in (f"{LIST}{endpoint_id}/", f"{LIST}{endpoint_id}/delete"):
            response = await other.client.get(path)
            assert response.status_code == 404, path
            assert receiver.url not in response.text
        for action, data in (("test", {}), ("state", {"enabled": "false"}), ("secret", {}), ("delete", {})):
            response = await other.post(f"{LIST}{endpoint_id}/{action}", data)
            assert response.status_code == 404, action
            assert "whsec_" not in response.text
    finally:
        await other.client.aclose()
    found = await endpoint_row(sessions, endpoint_id)
    assert found is not None
    assert (found.enabled, found.secret) == (True, secret)
    assert receiver.events() == []


async def test_every_action_needs_the_sessions_csrf_token(
    acme: Browser, receiver: Receiver, sessions: async_sessionmaker[AsyncSession]
) -> None:
    endpoint_id, secret = await add(acme, receiver.url)
    posts = [
        (ADD, {"url": receiver.url}),
        *((f"{LIST}{endpoint_id}/{action}", {}) for action in ("test", "secret", "delete")),
        (f"{LIST}{endpoint_id}/state", {"enabled": "false"}),
    ]
    for path, data in posts:
        for csrf in ({}, {"csrf": "0" * 64}):
            refused = await acme.client.post(path, data={**data, **csrf})
            assert refused.status_code == 403, (path, csrf)
            assert "whsec_" not in refused.text
    found = await endpoint_row(sessions, endpoint_id)
    assert found is not None
    assert (found.enabled, found.secret) == (True, secret)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 1
    assert receiver.events() == []


async def test_an_endpoint_is_disabled_and_enabled(acme: Browser, api: Api, receiver: Receiver) -> None:
    endpoint_id, _ = await add(acme, receiver.url)
    path = f"{LIST}{endpoint_id}/"

    async def enabled() -> bool:
        answer = await api.client.get(f"/api/v1/webhooks/{endpoint_id}/", headers=api.auth.brand())
        return bool(answer.json()["enabled"])

    off = await acme.post(f"{path}state", {"enabled": "false"})
    assert (off.status_code, off.headers["location"]) == (303, f"{path}?done=disabled")
    assert not await enabled()
    page = await acme.client.get(off.headers["location"])
    assert "The endpoint was disabled" in page.text
    assert re.search(r'id="webhook-state"><span class="state expired">Disabled</span>', page.text)
    assert re.search(r'name="enabled" value="true">\s*<button[^>]*>Enable</button>', page.text)
    assert "Disabled" in (await acme.client.get(LIST)).text

    on = await acme.post(f"{path}state", {"enabled": "true"})
    assert (on.status_code, on.headers["location"]) == (303, f"{path}?done=enabled")
    assert await enabled()
    page = await acme.client.get(on.headers["location"])
    assert re.search(r'id="webhook-state"><span class="state active">Enabled</span>', page.text)
    assert re.search(r'name="enabled" value="false">\s*<button[^>]*>Disable</button>', page.text)

    assert (await acme.post(f"{path}state", {"enabled": "maybe"})).status_code == 422
    assert await enabled()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_test_shows_what_the_receiver_answered(acme: Browser, receiver: Receiver) -> None:
    endpoint_id, _ = await add(acme, receiver.url, **{"event:batch.done": "yes"})
    path = f"{LIST}{endpoint_id}/"

    async def send() -> httpx.Response:
        sent = await acme.post(f"{path}test")
        assert sent.status_code == 303
        assert re.fullmatch(rf"{path}\?tested=evt_[0-9a-f]{{32}}", sent.headers["location"])
        return await acme.client.get(sent.headers["location"])

    answered = await send()
    assert len(receiver.events("ping")) == 1  # whatever the endpoint subscribed to
    assert re.search(r'id="test-result">Test sent:\s*the endpoint answered 204, so it takes deliveries', answered.text)
    receiver.status = 500
    failed = await send()
    assert re.search(
        r'class="notice failed" id="test-result">Test sent:\s*the endpoint answered 500, which', failed.text
    )
    assert len(receiver.events("ping")) == 2
    assert deliveries(failed) == [("ping", "1", "Failed", "500"), ("ping", "1", "Delivered", "204")]
    assert 'id="test-result"' not in (await acme.client.get(path)).text  # said once, after the test

    nobody, _ = await add(acme, f"http://127.0.0.1:{closed_port()}/hooks")
    sent = await acme.post(f"{LIST}{nobody}/test")
    unanswered = await acme.client.get(sent.headers["location"])
    assert re.search(r'id="test-result">Test sent:\s*no answer: could not connect', unanswered.text)
    ((kind, attempt, outcome, response),) = deliveries(unanswered)
    assert (kind, attempt, outcome) == ("ping", "1", "Failed")
    assert response.startswith("could not connect")


async def test_deliveries_of_events_are_listed_with_their_attempts(
    acme: Browser, receiver: Receiver, pipeline: Pipeline, clock: FakeClock
) -> None:
    endpoint_id, _ = await add(acme, receiver.url, **{"event:code.created": "yes"})
    receiver.status = 503
    assert (await acme.post("/dashboard/codes/new", {**FORM, "discount": "10"})).status_code == 303
    assert await pipeline.run() == 1
    clock.advance(seconds=10)  # the first retry is due after 5 s (±20 %)
    receiver.status = 204
    assert await pipeline.run() == 1
    assert [r.event["type"] for r in receiver.events()] == ["code.created", "code.created"]
    page = await acme.client.get(f"{LIST}{endpoint_id}/")
    assert deliveries(page) == [("code.created", "2", "Delivered", "204"), ("code.created", "1", "Failed", "503")]
    assert re.search(r"<td>2026-01-15 12:00 UTC</td>\s*<td><code>code.created</code></td>\s*<td>2<", page.text)


async def test_deleting_asks_first_then_removes_the_endpoint(
    acme: Browser, api: Api, receiver: Receiver, sessions: async_sessionmaker[AsyncSession]
) -> None:
    endpoint_id, _ = await add(acme, receiver.url)
    assert (await acme.post(f"{LIST}{endpoint_id}/test")).status_code == 303
    page = await acme.client.get(f"{LIST}{endpoint_id}/")
    assert f'href="{LIST}{endpoint_id}/delete"' in page.text
    confirm = await acme.client.get(f"{LIST}{endpoint_id}/delete")
    assert confirm.status_code == 200
    assert "Delete this webhook endpoint?" in confirm.text
    assert receiver.url in confirm.text
    assert await endpoint_row(sessions, endpoint_id) is not None  # asking deleted nothing
    done = await acme.post(f"{LIST}{endpoint_id}/delete")
    assert (done.status_code, done.headers["location"]) == (303, f"{LIST}?done=deleted")
    listing = await acme.client.get(done.headers["location"])
    assert "The endpoint was deleted" in listing.text
    assert receiver.url not in listing.text
    assert (await acme.client.get(f"{LIST}{endpoint_id}/")).status_code == 404
    assert (await acme.post(f"{LIST}{endpoint_id}/delete")).status_code == 404
    gone = await api.client.get(f"/api/v1/webhooks/{endpoint_id}/", headers=api.auth.brand())
    assert gone.status_code == 404
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookAttempt)) == 0  # its log went too


async def test_the_pages_are_locked_down(acme: Browser, receiver: Receiver) -> None:
    endpoint_id, _ = await add(acme, receiver.url)
    for path in (LIST, ADD, f"{LIST}{endpoint_id}/", f"{LIST}{endpoint_id}/delete"):
        page = await acme.client.get(path)
        assert page.headers["cache-control"] == "no-store", path
        assert "default-src 'none'" in page.headers["content-security-policy"], path
    assert (await acme.client.get(f"{LIST}{endpoint_id}/?tested=nonsense")).status_code == 422
    for unknown in (f"{LIST}wh_{'0' * 32}/", f"{LIST}not-an-id!/"):
        missing = await acme.client.get(unknown)
        assert missing.status_code in (404, 422), unknown
        assert missing.headers["content-type"].startswith("text/html")
    wrong = await acme.client.get(f"{LIST}{endpoint_id}/test")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
