"""The design's whole flow through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.api.conftest import percent_rule
from tests.conftest import Api


async def test_create_fetch_and_redeem(api: Api) -> None:
    await api.brand()
    await api.user()
    created = await api.code("springsale2022")
    assert created["id"] == "SPRINGSALE2022"
    assert created["rule"] == percent_rule(1, 10)

    fetched = await api.client.get("/api/v1/discountcode/SpringSale2022/", headers=api.auth.user())
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["used"] is False
    assert fetched.json()["expired"] is False

    used = await api.redeem("springsale2022", amount="120.00")
    assert used.status_code == 201, used.text
    body = used.json()
    assert (body["amount"], body["discount_amount"], body["amount_to_pay"]) == ("120.00", "12.00", "108.00")

    again = await api.redeem("SPRINGSALE2022", amount="120.00")
    assert again.status_code == 409
    assert again.json()["code"] == "code_already_used"
    assert again.headers["content-type"] == "application/problem+json"

    by_hash = await api.client.get(f"/api/v1/discountcode/{created['hash']}", headers=api.auth.user())
    assert by_hash.status_code == 200
    assert by_hash.json()["used"] is True
