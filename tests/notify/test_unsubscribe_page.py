"""The unsubscribe page in a real browser (the system Chromium driven by Playwright) against a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.api.app import create_app
from discounts.db import unit_of_work
from discounts.directory.models import User
from discounts.notify.unsubscribe import UnsubscribeTokens
from discounts.settings import Settings
from tests.services import CHROMIUM_ARGS, chromium, free_port, wait_for_port

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        create_app(settings.model_copy(update={"public_url": base})), port=port, log_level="warning"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    wait_for_port(port)
    yield base
    running.should_exit = True
    thread.join(timeout=10)


async def test_the_page_unsubscribes_with_one_click_and_loads_nothing_external(
    server: str, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from playwright.async_api import async_playwright

    executable = chromium()
    now = datetime.now(UTC)
    async with unit_of_work(sessions) as uow:
        uow.session.add(User(id="ann", email="ann@example.com", unsubscribed=False, created_at=now, updated_at=now))
    link = f"{server}/api/v1/unsubscribe/?token={UnsubscribeTokens(settings).mint('ann')}"

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            await page.goto(link)
            assert await page.locator("h1").inner_text() == "Unsubscribe"
            assert "ann@example.com" in await page.content()
            async with sessions() as session:
                assert not (await session.get_one(User, "ann")).unsubscribed  # opening it changed nothing

            await page.get_by_role("button", name="Unsubscribe").click()
            await page.wait_for_selector("text=You are unsubscribed")

            await page.goto(f"{server}/api/v1/unsubscribe/?token=broken")
            assert await page.locator("h1").inner_text() == "This link does not work"
        finally:
            await browser.close()
    async with sessions() as session:
        assert (await session.get_one(User, "ann")).unsubscribed
    assert requested
    assert all(url.startswith(server) for url in requested), requested
