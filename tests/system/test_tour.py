"""The README's tour, on the embedded default: one command runs the API and its worker."""

from __future__ import annotations

import asyncio
import mailbox
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.system.conftest import Server, bearer, run_cli

pytestmark = pytest.mark.slow


def embedded_env(data_dir: Path) -> dict[str, str]:
    """Nothing configured but the data directory, as on a fresh machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCOUNTS_")}
    env["DISCOUNTS_DATA_DIR"] = str(data_dir)
    env["DISCOUNTS_BRAND_DIGEST_SECONDS"] = "1"
    return env


async def test_the_tour_on_the_embedded_default(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = embedded_env(data)
    server = Server(env)
    try:
        tokens = {
            role: run_cli("token", "--role", role, *args, env=env).stdout
            for role, args in {
                "service": ["--sub", "marketplace"],
                "brand": ["--brand", "acme"],
                "user": ["--sub", "u-123"],
            }.items()
        }
        assert (data / "jwt_secret").stat().st_mode & 0o777 == 0o600
        async with httpx.AsyncClient(base_url=server.url + "/api/v1", timeout=30) as api:
            service, brand, user = (bearer(tokens[r]) for r in ("service", "brand", "user"))
            r = await api.put("/brands/acme/", json={"name": "Acme", "email": "promo@acme.example"}, headers=service)
            assert r.status_code == 201, r.text
            r = await api.put(
                "/users/u-123/", json={"email": "ann@example.com", "group": "individual"}, headers=service
            )
            assert r.status_code == 201, r.text
            code = {
                "id": "SPRINGSALE2022",
                "rule": {"brand": "acme", "discount": 10},
                "validity": "2099-12-31T23:59:59Z",
            }
            r = await api.post("/discountcode/", json=code, headers=brand)
            assert r.status_code == 201, r.text
            r = await api.get("/discountcode/springsale2022/", headers=user)
            assert r.status_code == 200, r.text
            assert r.json()["used"] is False
            use = {"code": "springsale2022", "user": "u-123", "amount": "120.00"}
            r = await api.post("/discountcodeusage/", json=use, headers=user)
            assert r.status_code == 201, r.text
            assert (r.json()["discount_amount"], r.json()["amount_to_pay"]) == ("12.00", "108.00")
            r = await api.post("/discountcodeusage/", json=use, headers=user)
            assert r.status_code == 409
            assert r.json()["code"] == "code_already_used"

            # The background worker that `serve` started announces the code and reports the use.
            maildir = mailbox.Maildir(data / "maildir", create=False) if (data / "maildir").exists() else None
            deadline = time.monotonic() + 60
            recipients: list[str] = []
            while time.monotonic() < deadline:
                if maildir is None and (data / "maildir").exists():
                    maildir = mailbox.Maildir(data / "maildir", create=False)
                recipients = sorted(str(m["To"]) for m in maildir) if maildir is not None else []
                if len(recipients) >= 2:
                    break
                await asyncio.sleep(0.5)
            assert any("ann@example.com" in r for r in recipients), recipients
            assert any("promo@acme.example" in r for r in recipients), recipients
            r = await api.get("/discountcode/SPRINGSALE2022/notifications/", headers=brand)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "done"
            assert r.json()["sent"] == 1
        async with httpx.AsyncClient(base_url=server.url) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert "server" not in ready.headers  # uvicorn's banner header is off
            metrics = (await http.get("/metrics")).text
            # Counted in the worker process, shown by the API process.
            assert 'discounts_emails_total{kind="announcement",outcome="sent"} 1.0' in metrics, metrics
            assert "discounts_ledger_copied_total 1.0" in metrics, metrics
            # Counted in the API process, through the same shared files.
            assert 'discounts_redemptions_total{outcome="redeemed"} 1.0' in metrics, metrics
            assert 'discounts_redemptions_total{outcome="code_already_used"} 1.0' in metrics, metrics
            docs = await http.get("/docs")
            assert docs.status_code == 200
            assert "/docs/static/swagger-ui-bundle.js" in docs.text
    finally:
        log = server.stop()
    assert "Traceback" not in log, log
    assert not server.leftovers, "the background worker outlived `discounts serve`"
