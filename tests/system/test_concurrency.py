"""Once per user, for real: 200 simultaneous redemptions across several server processes."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from discounts.settings import Settings
from tests.conftest import SECRET, make_token
from tests.system.conftest import Server, cli_env

pytestmark = pytest.mark.slow


async def test_one_201_among_200_concurrent_redemptions(tmp_path: Path, database_url: str) -> None:
    env = cli_env(tmp_path / "data", database_url, DISCOUNTS_RATE_LIMIT="100000/minute")
    server = Server(env, "--workers", "3", "--no-background")
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    service = {"Authorization": f"Bearer {make_token(settings, 'service', 'marketplace')}"}
    brand = {"Authorization": f"Bearer {make_token(settings, 'brand', 'acme', 'acme')}"}
    user = {"Authorization": f"Bearer {make_token(settings, 'user', 'u-1')}"}
    try:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:
            r = await http.put(
                "/api/v1/brands/acme/", json={"name": "Acme", "email": "p@acme.example"}, headers=service
            )
            assert r.status_code == 201, r.text
            r = await http.post(
                "/api/v1/discountcode/",
                json={"id": "FLASH", "rule": {"brand": "acme", "discount": 25}, "validity": "2099-01-01T00:00:00Z"},
                headers=brand,
            )
            assert r.status_code == 201, r.text
            body = {"code": "flash", "user": "u-1", "amount": "80.00"}
            responses = await asyncio.gather(
                *(http.post("/api/v1/discountcodeusage/", json=body, headers=user) for _ in range(200))
            )
            statuses = sorted(r.status_code for r in responses)
            others = [r.text for r in responses if r.status_code not in (201, 409)][:3]
            assert statuses.count(201) == 1, (Counter(statuses), others)
            assert statuses.count(409) == 199, (Counter(statuses), others)
            assert {r.json()["code"] for r in responses if r.status_code == 409} == {"code_already_used"}
            winner = next(r for r in responses if r.status_code == 201).json()
            assert winner["amount_to_pay"] == "60.00"
            fetched = await http.get("/api/v1/discountcode/FLASH/", headers=user)
            assert fetched.json()["used"] is True
    finally:
        log = server.stop()
    assert "Traceback" not in log, log
    assert not server.leftovers, "API processes outlived `discounts serve`"
