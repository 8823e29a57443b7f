"""The notifications' HTTP side: progress for brands, one-click unsubscribe, and creation that never waits."""

from __future__ import annotations

import mailbox
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.directory.models import User
from discounts.events.models import Event
from discounts.notify.context import Notifier
from discounts.notify.unsubscribe import UnsubscribeTokens
from discounts.settings import Settings
from tests.conftest import Api, FakeClock
from tests.notify.conftest import add_brand, add_users, new_code, run_fanout, user_rows
from tests.notify.sink import SMTPSink
from tests.services import free_port

#: For the tests about HTTP, tokens, templates and transports: the database is not their subject.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def setup_users(api: Api, count: int) -> None:
    await api.brand()
    users = [{"id": f"u{n:03d}", "email": f"u{n:03d}@example.com"} for n in range(count)]
    r = await api.client.post("/api/v1/users/", json=users, headers=api.auth.service())
    assert r.status_code == 200, r.text


async def test_progress_goes_from_queued_to_done_for_the_owning_brand_only(
    api: Api, notifier: Notifier, clock: FakeClock, smtp_sink: SMTPSink
) -> None:
    await setup_users(api, 50)
    await api.brand("bolt", "promo@bolt.example")
    await api.code("SPRING")
    url = "/api/v1/discountcode/spring/notifications/"

    queued = await api.client.get(url, headers=api.auth.brand())
    assert queued.status_code == 200, queued.text
    assert queued.json() == {"code": "SPRING", "status": "queued", "total": None, "sent": 0, "failed": 0, "skipped": 0}
    assert smtp_sink.count() == 0  # creating the code sent nothing itself

    smtp_sink.permanent.add("u007@example.com")
    await run_fanout(notifier, "SPRING", clock)
    done = await api.client.get(url.rstrip("/"), headers=api.auth.brand())
    assert done.json() == {"code": "SPRING", "status": "done", "total": 50, "sent": 49, "failed": 1, "skipped": 0}

    other = await api.client.get(url, headers=api.auth.brand("bolt"))
    assert (other.status_code, other.json()["code"]) == (403, "brand_mismatch")
    user = await api.client.get(url, headers=api.auth.user())
    assert (user.status_code, user.json()["code"]) == (403, "forbidden")
    unknown = await api.client.get("/api/v1/discountcode/NOPE/notifications/", headers=api.auth.brand())
    assert (unknown.status_code, unknown.json()["code"]) == (404, "code_not_found")


@SQLITE_ONLY
@pytest.mark.parametrize("broker_url", [f"amqp://guest:guest@127.0.0.1:{free_port()}//"])
async def test_creating_a_code_answers_while_the_broker_is_down(
    api: Api, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink
) -> None:
    """Nothing listens on the broker's port: the request still succeeds and its event waits in the outbox."""
    await setup_users(api, 3)
    created = await api.client.post(
        "/api/v1/discountcode/",
        json={"id": "DOWN", "rule": {"brand": "acme", "discount": 10}, "validity": "2027-05-31T23:59:59Z"},
        headers=api.auth.brand(),
    )
    assert created.status_code == 201, created.text
    async with sessions() as session:
        event = (await session.scalars(select(Event).where(Event.type == "code.created"))).one()
    assert (orjson.loads(event.payload)["data"]["id"], event.dispatched_at) == ("DOWN", None)
    assert smtp_sink.count() == 0


async def test_unsubscribe_end_to_end_from_the_link_in_the_mail(
    api: Api, notifier: Notifier, clock: FakeClock, smtp_sink: SMTPSink, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await setup_users(api, 3)
    await api.code("FIRST")
    await run_fanout(notifier, "FIRST", clock)
    mail = next(message for rcpt, message in smtp_sink.messages() if rcpt == "u001@example.com")
    link = urlsplit(mail["List-Unsubscribe"].strip(" <>"))
    target = f"{link.path}?{link.query}"

    page = await api.client.get(target, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "u001@example.com" in page.text
    assert '<form method="post"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    async with sessions() as session:
        assert not (await session.get_one(User, "u001")).unsubscribed  # opening the link changes nothing

    one_click = await api.client.post(
        target,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200, one_click.text
    assert "You are unsubscribed" in one_click.text
    async with sessions() as session:
        assert (await session.get_one(User, "u001")).unsubscribed

    await api.code("SECOND")
    await run_fanout(notifier, "SECOND", clock)
    second = [rcpt for rcpt, message in smtp_sink.messages() if "SECOND" in message["Subject"]]
    assert sorted(second) == ["u000@example.com", "u002@example.com"]
    progress = await api.client.get("/api/v1/discountcode/SECOND/notifications/", headers=api.auth.brand())
    assert (progress.json()["sent"], progress.json()["skipped"]) == (2, 1)


@SQLITE_ONLY
async def test_bad_unsubscribe_tokens_are_refused_and_tokens_do_not_cross_over(
    api: Api, client: httpx.AsyncClient, settings: Settings
) -> None:
    await setup_users(api, 1)
    api_token = api.auth.user("u000")["Authorization"].removeprefix("Bearer ")
    as_link = await client.post(f"/api/v1/unsubscribe/?token={api_token}")
    assert as_link.status_code == 404
    assert as_link.headers["content-type"] == "application/problem+json"
    assert as_link.json()["code"] == "invalid_link"

    garbled = await client.get("/api/v1/unsubscribe/?token=not-a-token", headers={"Accept": "text/html"})
    assert garbled.status_code == 404
    assert "This link does not work" in garbled.text
    missing = await client.get("/api/v1/unsubscribe", headers={"Accept": "text/html"})
    assert missing.status_code == 404

    link_token = UnsubscribeTokens(settings).mint("u000")
    as_bearer = await client.get("/api/v1/users/u000/", headers={"Authorization": f"Bearer {link_token}"})
    assert as_bearer.status_code == 401
    gone = await client.post(f"/api/v1/unsubscribe/?token={UnsubscribeTokens(settings).mint('nobody')}")
    assert (gone.status_code, gone.json()["code"]) == (404, "user_not_found")


@SQLITE_ONLY
async def test_templates_can_be_replaced_one_file_at_a_time(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    smtp_sink: SMTPSink,
    tmp_path: Path,
) -> None:
    override = tmp_path / "templates"
    override.mkdir()
    (override / "code_announcement.subject.txt").write_text("Psst, {{ recipient.id }}: {{ code.code }}\n")
    notifier = Notifier.build(settings.model_copy(update={"templates_dir": override}), sessions)
    await add_brand(sessions)
    await add_users(sessions, user_rows(1))
    code = await new_code(sessions, clock, "CUSTOM")
    await run_fanout(notifier, code, clock)

    [(_, message)] = smtp_sink.messages()
    assert message["Subject"] == "Psst, u0000000: CUSTOM"
    assert "Enter it at checkout" in message.get_body(("plain",)).get_content()  # the packaged body still


@SQLITE_ONLY
async def test_without_smtp_the_mail_goes_to_a_maildir_in_the_data_dir(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    embedded = settings.model_copy(update={"smtp_url": None})
    await add_brand(sessions)
    await add_users(sessions, user_rows(3))
    code = await new_code(sessions, clock, "LOCAL")
    await run_fanout(Notifier.build(embedded, sessions), code, clock)

    box = mailbox.Maildir(settings.data_dir.resolve() / "maildir", create=False)
    received = sorted(message["To"] for message in box)
    assert received == ["u0000000@example.com", "u0000001@example.com", "u0000002@example.com"]
    token = parse_qs(urlsplit(next(iter(box))["List-Unsubscribe"].strip(" <>")).query)["token"][0]
    assert UnsubscribeTokens(embedded).user_id(token).startswith("u000000")


@SQLITE_ONLY
async def test_the_app_serves_the_progress_route_in_its_openapi(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    assert "/api/v1/discountcode/{id}/notifications/" in paths
    assert "post" in paths["/api/v1/unsubscribe/"]
