"""``/docs`` in a real browser against a real server, with the internet out of reach.

Every request the page makes is recorded; any that leaves 127.0.0.1 is aborted and fails
the test, so a CDN asset slipping into the page cannot go unnoticed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Route, async_playwright

from tests.conftest import SECRET
from tests.services import CHROMIUM_ARGS, chromium, free_port, wait_for_port

SCREENSHOT = Path("/tmp/discounts-docs.png")


@pytest.fixture
def server(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """``uvicorn`` serving the app on a free loopback port, on a migrated SQLite copy."""
    database = tmp_path / "discounts.sqlite3"
    shutil.copy(sqlite_template, database)
    port = free_port()
    env = {
        **os.environ,
        "DISCOUNTS_DATA_DIR": str(tmp_path / "data"),
        "DISCOUNTS_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "DISCOUNTS_JWT_SECRET": SECRET,
    }
    argv = [sys.executable, "-m", "uvicorn", "discounts.api.app:create_app", "--factory"]
    log = (tmp_path / "uvicorn.log").open("wb")
    proc = subprocess.Popen([*argv, "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def browser_path() -> str:
    return chromium()


async def test_docs_render_offline(server: str, browser_path: str) -> None:
    requested: list[str] = []
    refused: list[str] = []

    async def only_loopback(route: Route) -> None:
        url = route.request.url
        requested.append(url)
        if urlsplit(url).hostname != "127.0.0.1":
            refused.append(url)
            await route.abort()
        else:
            await route.continue_()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.route("**/*", only_loopback)
            await page.goto(f"{server}/docs", wait_until="networkidle")
            usage = page.locator('.opblock-summary-path[data-path="/api/v1/discountcodeusage/"]')
            await usage.wait_for(state="visible", timeout=20_000)
            assert await page.locator(".opblock").count() >= 10
            assert "Discount codes" in await page.locator(".info .title").inner_text()
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            await browser.close()
    assert refused == []
    assert f"{server}/openapi.json" in requested
    assert any(url.endswith("/swagger-ui-bundle.js") for url in requested)
