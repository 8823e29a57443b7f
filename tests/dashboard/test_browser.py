"""The issue's whole journey in the system Chromium, at 375 px wide, by keyboard, against ``discounts serve``.

Sign in by a link from ``discounts dashboard-link``, create a code (see the API's error by its
field, fix it), redeem through the API and watch the numbers and the chart change as the worker
copies the uses to the ledger, roll a use back, download the CSV, make a batch of single-use
codes and watch its progress bar as the worker makes them, download its codes, add a webhook
endpoint at a live receiver (see the URL's error by its field; the secret, once), send it a test
and see its delivery, disable it, sign out. Every page is checked with axe-core (no serious or
critical violation; on the Webhooks pages none at all); screenshots are kept in
``artefacts/dashboard`` (git-ignored; ``DISCOUNTS_TEST_ARTEFACTS`` moves it). Nothing may leave
127.0.0.1, and the pages' Content-Security-Policy must never have had to block anything.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page, Route, async_playwright, expect

from discounts.auth import Role, mint_token
from discounts.clock import utcnow
from discounts.settings import Settings
from tests.conftest import SECRET
from tests.services import CHROMIUM_ARGS, chromium
from tests.system.conftest import Server, cli_env, run_cli
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.slow

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTEFACTS = Path(os.environ.get("DISCOUNTS_TEST_ARTEFACTS", Path(__file__).parents[2] / "artefacts")) / "dashboard"
WAIT_MS = 30_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    # the webhook receiver listens on loopback, which a deployment's webhooks may not reach
    env = cli_env(tmp_path / "data", DISCOUNTS_BRAND_DIGEST_SECONDS="3600", DISCOUNTS_WEBHOOK_ALLOW_PRIVATE="true")
    server = Server(env)
    env["DISCOUNTS_PUBLIC_URL"] = server.url  # what serve told its own processes
    try:
        yield server, env
    finally:
        server.stop()


def bearer(role: Role, sub: str, brand: str | None = None) -> dict[str, str]:
    settings = Settings(jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    token = mint_token(settings, role=role, sub=sub, brand=brand, ttl=timedelta(hours=1), now=utcnow())
    return {"Authorization": f"Bearer {token}"}


class Journey:
    """The page, what it must not do (leave the machine, break its CSP), and the checks of each step."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.left: list[str] = []
        self.blocked: list[str] = []
        self.shots = 0
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.blocked.append(message.text)

    async def only_loopback(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname != "127.0.0.1":
            self.left.append(route.request.url)
            await route.abort()
        else:
            await route.continue_()

    async def check(self, name: str) -> None:
        """A screenshot, and axe-core's verdict on the page as it is now: no violation, of any impact."""
        self.shots += 1
        await self.page.screenshot(path=str(ARTEFACTS / f"{self.shots:02}-{name}.png"), full_page=True)
        # usable at 375 px: nothing makes the page itself scroll sideways (wide tables scroll in their box)
        assert await self.page.evaluate("document.documentElement.scrollWidth") <= 375, name
        # Evaluated through the DevTools protocol: the page's CSP (script-src 'self') is not loosened for it.
        await self.page.evaluate(AXE.read_text())
        result = await self.page.evaluate(
            "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
            " 'best-practice']}})"
        )
        violations = [(v["id"], v["impact"], [node["target"] for node in v["nodes"]][:3]) for v in result["violations"]]
        assert violations == [], (name, violations)

    async def press(self, selector: str, key: str = "Enter") -> None:
        """Keyboard only: focus the control as Tab would reach it, then press."""
        await self.page.focus(selector)
        await self.page.keyboard.press(key)

    async def pick(self, selector: str, value: str) -> None:
        """A date-time field: its segments take digits and arrows whose order depends on the locale; set it whole."""
        await self.page.focus(selector)
        await self.page.fill(selector, value)

    async def type_into(self, selector: str, text: str) -> None:
        await self.page.focus(selector)
        await self.page.keyboard.press("Control+A")
        await self.page.keyboard.type(text)


async def chart_total(page: Page, name: str) -> int:
    data = json.loads(await page.locator("#chart-data").get_attribute("data-series") or "{}")
    return int(sum(data[name]["y"]))


async def test_the_brands_journey_in_a_browser(
    server: tuple[Server, dict[str, str]], receiver: Receiver, tmp_path: Path
) -> None:
    serve, env = server
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTEFACTS.glob("*.png"):  # only this run's screenshots
        old.unlink()
    service = bearer(Role.service, "marketplace")
    async with httpx.AsyncClient(base_url=serve.url + "/api/v1", timeout=30) as api:
        brand = {"name": "Acme", "email": "p@acme.example"}
        assert (await api.put("/brands/acme/", json=brand, headers=service)).is_success
        for n in range(3):
            response = await api.put(f"/users/u-{n}/", json={"email": f"u{n}@example.com"}, headers=service)
            assert response.is_success
        link = run_cli("dashboard-link", "--brand", "acme", env=env)
        assert link.returncode == 0, link.stderr
        url = link.stdout.strip()
        assert url.startswith(serve.url + "/dashboard/sign-in?token=")

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 375, "height": 812}, accept_downloads=True)
                page = await context.new_page()
                journey = Journey(page)
                await page.route("**/*", journey.only_loopback)

                # sign in by the link: a page with a button, nothing spent by opening it
                await page.goto(url)
                await journey.check("sign-in")
                await page.keyboard.press("Tab")  # the first stop is the skip link
                assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
                await journey.press("button[type=submit]")
                await expect(page.get_by_role("heading", name="Codes")).to_be_visible()
                await journey.check("codes-empty")

                # create a code: the API's error next to its field, then fixed
                await journey.press("a[href='/dashboard/codes/new']")
                await expect(page.get_by_role("heading", name="New code")).to_be_visible()
                await journey.type_into("#f-id", "spring-sale")
                await journey.pick("#f-validity", "2020-01-01T12:00")
                await journey.type_into("#f-discount", "10")
                await journey.type_into("#f-max_uses", "100")
                await journey.type_into("#f-budget", "500")
                await journey.press("#f-budget")  # Enter in a field submits the form
                error = page.locator("#e-validity")
                await expect(error).to_have_text("must be in the future")
                await expect(page.locator("#f-validity")).to_have_attribute("aria-invalid", "true")
                await expect(page.locator("#problem")).to_be_focused()  # the summary has focus
                await journey.check("new-code-error")
                await journey.pick("#f-validity", "2099-12-31T23:59")
                await journey.press("#f-validity")
                await expect(page.get_by_text("Code SPRING-SALE was created")).to_be_visible()
                await journey.check("codes-created")

                # the code's page: numbers, charts, e-mail progress
                await journey.press("a[href='/dashboard/codes/SPRING-SALE/']")
                await expect(page.get_by_role("heading", name="SPRING-SALE")).to_be_visible()
                await expect(page.locator("#chart-hourly canvas")).to_have_count(1)
                await expect(page.locator("#stat-uses")).to_have_text("0")
                await expect(page.locator("#fanout-text")).to_have_text("Done: 3 of 3 sent.", timeout=WAIT_MS)

                # redeem through the API; the live part shows it once the worker copied the uses
                ids = {}
                for n, amount in enumerate(("120.00", "80.00", "50.00")):
                    body = {"code": "spring-sale", "user": f"u-{n}", "amount": amount}
                    used = await api.post("/discountcodeusage/", json=body, headers=bearer(Role.user, f"u-{n}"))
                    assert used.status_code == 201, used.text
                    ids[f"u-{n}"] = used.json()["id"]
                await expect(page.locator("#stat-uses")).to_have_text("3", timeout=WAIT_MS)
                await expect(page.locator("#stat-given")).to_have_text("25.00")
                await expect(page.locator("#stat-uses-left")).to_have_text("97")
                await expect(page.locator("#stat-budget-left")).to_have_text("475.00 of 500.00")
                assert await chart_total(page, "hourly") == 3
                assert await chart_total(page, "daily") == 3
                await journey.check("code-with-uses")

                # roll one back, with a confirmation
                await journey.press(f"#roll-back-{ids['u-1']}")
                await expect(page.get_by_role("heading", name="Roll back this use of SPRING-SALE?")).to_be_visible()
                await journey.check("roll-back-confirm")
                await journey.press("form button[type=submit]:has-text('Yes')")
                await expect(page.get_by_text("The use was rolled back")).to_be_visible()
                await expect(page.locator("#stat-uses")).to_have_text("2", timeout=WAIT_MS)
                await expect(page.locator("#stat-rolled-back")).to_have_text("1")
                await expect(page.locator("#stat-uses-left")).to_have_text("98")
                assert await chart_total(page, "hourly") == 2
                again = {"code": "spring-sale", "user": "u-1", "amount": "80.00"}
                reuse = await api.post("/discountcodeusage/", json=again, headers=bearer(Role.user, "u-1"))
                assert reuse.status_code == 201, reuse.text  # the use is the user's again
                await journey.check("code-after-roll-back")

                # the CSV of every use
                async with page.expect_download() as download_info:
                    await journey.press("a[href$='usages.csv']")
                download = await download_info.value
                saved = tmp_path / "usages.csv"
                await download.save_as(saved)
                rows = list(csv.DictReader(io.StringIO(saved.read_text())))
                assert sorted((row["user"], row["status"]) for row in rows if row["status"] != "used") == [
                    ("u-1", "rolled_back")
                ]
                assert {row["user"] for row in rows} == {"u-0", "u-1", "u-2"}

                # a batch of single-use codes: made by the worker while its page watches, then downloaded
                await journey.press("a[href='/dashboard/batches/']")
                await expect(page.get_by_role("heading", name="Batches")).to_be_visible()
                await journey.press("a[href='/dashboard/batches/new']")
                await journey.type_into("#f-count", "2000")
                await journey.type_into("#f-prefix", "vip-")
                await journey.pick("#f-validity", "2099-12-31T23:59")
                await journey.type_into("#f-discount", "20")
                await journey.check("new-batch")
                await journey.press("#f-discount")
                await expect(page.get_by_role("heading", name=re.compile("^Batch "))).to_be_visible()
                progress = page.locator("#batch-progress")
                await expect(progress).to_have_attribute("max", "2000")
                await expect(progress).to_have_attribute("value", "2000", timeout=WAIT_MS)  # live, no reload
                await expect(page.locator("#batch-text")).to_have_text("Done: 2,000 of 2,000 made.")
                await journey.check("batch-done")
                async with page.expect_download() as batch_download:
                    await journey.press("#batch-csv")
                codes_file = tmp_path / "codes.csv"
                await (await batch_download.value).save_as(codes_file)
                batch_rows = list(csv.DictReader(io.StringIO(codes_file.read_text())))
                assert len(batch_rows) == 2000
                assert all(row["code"].startswith("VIP-") for row in batch_rows)
                await journey.press("a[href='/dashboard/batches/']")
                await expect(page.get_by_text("2,000 of 2,000")).to_be_visible()
                await journey.check("batches")

                # webhooks: the API's error by the URL field, then an endpoint at a live receiver,
                # its secret shown once, a test and its delivery, disabled
                await journey.press("a[href='/dashboard/webhooks/']")
                await expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
                await journey.check("webhooks-empty")
                await journey.press("a[href='/dashboard/webhooks/new']")
                await journey.type_into("#f-url", "hooks.example/x")
                await journey.press("#f-event-usage-used", "Space")
                await journey.press("#f-url")
                await expect(page.locator("#e-url")).to_contain_text("should match pattern")
                await expect(page.locator("#f-url")).to_have_attribute("aria-invalid", "true")
                await expect(page.locator("#problem")).to_be_focused()
                await expect(page.locator("#f-event-usage-used")).to_be_checked()  # what was chosen stays
                await journey.check("new-webhook-error")
                await journey.type_into("#f-url", receiver.url)
                await journey.press("#f-url")
                await expect(page.get_by_role("heading", name="Endpoint added")).to_be_visible()
                secret = await page.locator("#secret").text_content() or ""
                assert secret.startswith("whsec_")
                await journey.check("webhook-secret")
                await journey.press("#to-endpoint")
                await expect(page.get_by_role("heading", name="Webhook endpoint")).to_be_visible()
                assert secret not in await page.content()
                await journey.press("#send-test")
                await expect(page.locator("#test-result")).to_contain_text("the endpoint answered 204")
                delivery = page.locator("#deliveries tbody tr").filter(has_text="ping")
                await expect(delivery.locator("td")).to_have_text([re.compile("UTC$"), "ping", "1", "Delivered", "204"])
                (ping,) = receiver.events("ping")
                assert ping.verify(secret)["type"] == "ping"  # the secret the page showed signs
                await journey.check("webhook-tested")
                await journey.press("#switch")
                await expect(page.locator("#webhook-state")).to_have_text("Disabled")
                await expect(page.locator("#switch")).to_have_text("Enable")
                await journey.check("webhook-disabled")
                brand = bearer(Role.brand, "acme", "acme")
                assert [e["enabled"] for e in (await api.get("/webhooks/", headers=brand)).json()] == [False]
                assert secret not in await page.content()

                # sign out: the session ends on the server
                await journey.press("nav form button[type=submit]")
                await expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
                await journey.check("signed-out")
                await page.goto(serve.url + "/dashboard/")
                await expect(page.get_by_role("heading", name="Sign-in needed")).to_be_visible()
                await page.goto(url)  # the link worked once
                await journey.press("button[type=submit]")
                await expect(page.get_by_text("used already")).to_be_visible()
                await journey.check("link-used")
            finally:
                await browser.close()
    assert journey.left == []
    assert journey.blocked == []
    assert len(list(ARTEFACTS.glob("*.png"))) == journey.shots
