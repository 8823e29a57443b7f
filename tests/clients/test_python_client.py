"""The Python client (clients/python) against the live service: the README's tour, errors, retries."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from discounts_client import (
    AsyncDiscounts,
    BrandMismatch,
    CodeAlreadyUsed,
    CodeNotFound,
    Conflict,
    Discounts,
    Line,
    NotFound,
    RateLimited,
    RetryPolicy,
    Unauthenticated,
    UsageNotFound,
    UserMismatch,
    ValidationFailed,
    ops,
)
from discounts_client.generated.models import BatchOutStatus, BulkUserIn, RedemptionOut

from tests.clients.conftest import Live
from tests.clients.proxy import DropOneReply

pytestmark = pytest.mark.slow

VALIDITY = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)


async def test_the_tour_through_the_async_client(live: Live) -> None:
    service = AsyncDiscounts(live.url, token=live.token("service", "marketplace"))
    brand = AsyncDiscounts(live.url, token=lambda: live.token("brand", "acme"))
    ann = AsyncDiscounts(live.url, token=live.token("user", "u-ann"))
    bob = AsyncDiscounts(live.url, token=live.token("user", "u-bob"))
    async with service, brand, ann, bob:
        # The directory.
        acme = await service.send(ops.put_brand("acme", name="Acme", email="promo@acme.example"))
        assert (acme.id, acme.email) == ("acme", "promo@acme.example")
        await service.send(ops.put_user("u-ann", email="ann@example.com", group="individual"))
        result = await service.send(ops.put_users([BulkUserIn(id="u-bob", email="bob@example.com")]))
        assert (result.received, result.created) == (1, 1)

        # A code, fetched by any case, quoted and redeemed: money is Decimal.
        created = await brand.send(
            ops.create_code("SPRINGSALE2022", rule=ops.percent_off("acme", 10), validity=VALIDITY)
        )
        assert (created.id, created.validity) == ("SPRINGSALE2022", VALIDITY)
        view = await ann.send(ops.get_code("springsale2022"))
        assert (view.id, view.hash_, view.expired, view.used) == ("SPRINGSALE2022", created.hash_, False, False)
        quoted = await ann.send(ops.quote("springsale2022", user="u-ann", amount=Decimal("120.00")))
        assert (quoted.amount_to_pay, quoted.discount_amount, quoted.discount) == (
            Decimal("108.00"),
            Decimal("12.00"),
            10,
        )
        used = await ann.send(ops.redeem("springsale2022", user="u-ann", amount=Decimal("120.00")))
        assert (used.status, used.code, used.amount_to_pay) == ("used", "SPRINGSALE2022", Decimal("108.00"))
        assert isinstance(used.amount_to_pay, Decimal)

        # A second use: the 409 as its typed exception, with the problem's members.
        with pytest.raises(CodeAlreadyUsed) as refused:
            await ann.send(ops.redeem("SPRINGSALE2022", user="u-ann", amount=Decimal("120.00")))
        assert isinstance(refused.value, Conflict)
        assert (refused.value.status_code, refused.value.reason) == (409, "code_already_used")
        assert refused.value.request_id
        assert refused.value.detail
        with pytest.raises(CodeNotFound):
            await ann.send(ops.get_code("NO-SUCH-CODE"))
        with pytest.raises(UserMismatch):
            await ann.send(ops.redeem("SPRINGSALE2022", user="u-bob", amount=Decimal("10")))
        with pytest.raises(BrandMismatch):
            await brand.send(ops.create_code("OTHERS", rule=ops.percent_off("bolt", 5), validity=VALIDITY))
        with pytest.raises(ValidationFailed) as invalid:
            await bob.send(ops.redeem("SPRINGSALE2022", user="u-bob", amount=Decimal("1.005")))
        assert any("amount" in error.loc for error in invalid.value.errors), invalid.value.errors

        # A batch of single-use codes: poll until done, then its CSV.
        batch = await brand.send(
            ops.create_batch(rule=ops.percent_off("acme", 20), validity=VALIDITY, count=5, prefix="FLYER-")
        )
        deadline = time.monotonic() + 60
        while batch.status != BatchOutStatus.DONE and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            batch = await brand.send(ops.get_batch(batch.id))
        assert (batch.status, batch.generated) == (BatchOutStatus.DONE, 5)
        lines = (await brand.send(ops.batch_codes_csv(batch.id))).splitlines()
        assert (lines[0], len(lines)) == ("code,hash", 6)
        flyers = [line.split(",")[0] for line in lines[1:]]
        assert all(code.startswith("FLYER-") for code in flyers)

        # A checkout hold on a cart of items, confirmed (again: the same answer).
        items = [Line("acme", Decimal("50.00"), 2), Line("other", Decimal("20.00"))]
        held = await bob.send(ops.redeem(flyers[0], user="u-bob", items=items, hold=True))
        assert (held.status, held.held, held.discount_amount, held.amount_to_pay) == (
            "held",
            True,
            Decimal("20.00"),
            Decimal("100.00"),
        )
        assert held.hold_expires_at is not None
        assert held.hold_expires_at > datetime.now(UTC)
        confirmed = await bob.send(ops.confirm(held.id))
        assert (confirmed.id, confirmed.status, confirmed.amount_to_pay) == (held.id, "used", Decimal("100.00"))
        assert (await service.send(ops.confirm(held.id))).status == "used"

        # A rollback: the use is given back, and the code can be used again.
        use = await bob.send(ops.redeem(flyers[1], user="u-bob", amount=Decimal("10.00")))
        assert (await bob.send(ops.get_code(flyers[1]))).used is True
        assert await bob.send(ops.give_back(use.id)) is None
        assert (await bob.send(ops.get_code(flyers[1]))).used is False
        with pytest.raises(UsageNotFound) as gone:
            await bob.send(ops.give_back(use.id))
        assert isinstance(gone.value, NotFound)

        # EXTENSION POINT (API.md part 3, the cart): quote a cart of several brands' codes
        # (ops.cart_quote), hold it (ops.cart_redeem(..., hold=True)) and confirm it (ops.cart_confirm);
        # a refused code raises CartRejected with its `rejected` list. test_the_cart_lands below
        # fails once the cart is in the OpenAPI document, until this is written.


async def test_a_bad_token_is_unauthenticated(live: Live) -> None:
    async with AsyncDiscounts(live.url, token="not-a-jwt") as anonymous:
        with pytest.raises(Unauthenticated) as refused:
            await anonymous.send(ops.get_code("SPRINGSALE2022"))
    assert refused.value.status_code == 401


def test_the_sync_client_and_sending_an_operation_again(live: Live) -> None:
    with (
        Discounts(live.url, token=live.token("service", "marketplace")) as service,
        Discounts(live.url, token=live.token("brand", "sync-brand")) as brand,
        Discounts(live.url, token=live.token("user", "u-sync")) as user,
    ):
        service.send(ops.put_brand("sync-brand", name="Sync", email="promo@sync.example"))
        rule = ops.amount_off("sync-brand", Decimal("5.00"), "EUR", min_amount=Decimal("20"))
        create = ops.create_code("SYNC5", rule=rule, validity=VALIDITY)
        assert create.idempotency_key
        assert brand.send(create).id == brand.send(create).id == "SYNC5"  # the same key: replayed, not 409
        redeem = ops.redeem("sync5", user="u-sync", amount=Decimal("30"), currency="EUR")
        first = user.send(redeem)
        assert (first.amount_off, first.currency, first.discount, first.amount_to_pay) == (
            Decimal("5.00"),
            "EUR",
            None,
            Decimal("25.00"),
        )
        again = user.send(redeem)  # e.g. after a TransportError: the same operation, the same answer
        assert again == first
        with pytest.raises(CodeAlreadyUsed):
            user.send(ops.redeem("sync5", user="u-sync", amount=Decimal("30"), currency="EUR"))


def test_a_retry_after_a_dropped_reply_returns_the_original_201(live: Live) -> None:
    with (
        Discounts(live.url, token=live.token("service", "marketplace")) as service,
        Discounts(live.url, token=live.token("brand", "proxy-brand")) as brand,
    ):
        service.send(ops.put_brand("proxy-brand", name="Proxy", email="promo@proxy.example"))
        brand.send(ops.create_code("DROPPED", rule=ops.percent_off("proxy-brand", 25), validity=VALIDITY))
    line = b"POST /api/v1/discountcodeusage/ "
    proxy = DropOneReply(live.port, line)
    try:
        with Discounts(proxy.url, token=live.token("user", "u-proxy")) as user:
            used = user.send(ops.redeem("DROPPED", user="u-proxy", amount=Decimal("80.00")))
            assert user.send(ops.get_code("DROPPED")).used is True
    finally:
        proxy.close()
    assert proxy.dropped is not None
    assert proxy.dropped.startswith(b"HTTP/1.1 201 "), proxy.dropped
    original = json.loads(proxy.dropped.split(b"\r\n\r\n", 1)[1])
    keys = proxy.idempotency_keys(line)
    assert len(keys) == 2, keys
    assert keys[0] == keys[1] != "", keys
    assert used.raw == RedemptionOut.from_dict(original)  # the very answer that was lost
    assert (used.id, used.amount_to_pay) == (original["id"], Decimal("60.00"))


async def test_a_wait_longer_than_the_budget_is_raised_at_once(live: Live) -> None:
    async with AsyncDiscounts(
        live.url, token=live.token("user", "u-guesser"), retry=RetryPolicy(total_seconds=20)
    ) as guesser:
        for attempt in range(3):
            with pytest.raises(CodeNotFound):
                await guesser.send(ops.get_code(f"GUESS-{attempt}"))
        started = time.monotonic()
        with pytest.raises(RateLimited) as limited:
            await guesser.send(ops.get_code("SPRINGSALE2022"))
    assert time.monotonic() - started < 10
    assert limited.value.retry_after is not None
    assert limited.value.retry_after > 20


def test_the_cart_lands() -> None:
    """EXTENSION POINT: skipped until API.md part 3's cart is in clients/openapi.json, then fails until tested."""
    from tests.clients.test_drift import committed_document

    paths = committed_document()["paths"]
    if "/api/v1/cartquote/" not in paths and "/api/v1/webhooks/" not in paths:
        pytest.skip("the cart and the webhooks (API.md part 3) have not landed yet")
    pytest.fail(
        "the cart or the webhooks are in the API: add ops.cart_* / ops.*webhook* and CartRejected to the client, "
        "run them in the tour above (quote, hold, confirm; an endpoint with a verified delivery), then drop this test"
    )
