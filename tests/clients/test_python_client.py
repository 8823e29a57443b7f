"""The Python client (clients/python) against the live service: the README's tour, errors, retries."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from discounts_client import (
    Allocation,
    AsyncDiscounts,
    BrandMismatch,
    CartNotFound,
    CartRejected,
    CodeAlreadyUsed,
    CodeNotFound,
    Conflict,
    Discounts,
    Line,
    LinesRequired,
    NotFound,
    RateLimited,
    RetryPolicy,
    Unauthenticated,
    UsageNotFound,
    UserMismatch,
    ValidationFailed,
    WebhookNotFound,
    WebhookVerifier,
    ops,
)
from discounts_client.generated.models import BatchOutStatus, BulkUserIn, CartRedemptionOut, RedemptionOut

from tests.clients.conftest import Live
from tests.clients.proxy import CONFIRM_CART, REDEEM, REDEEM_CART, DropOneReply
from tests.webhooks.receiver import Receiver

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


#: The README's marketplace cart: two brands' codes on three lines.
CART = [
    Line("cart-acme", Decimal("60.00"), id="a"),
    Line("cart-acme", Decimal("40.00"), id="b", categories=("shoes",)),
    Line("cart-bolt", Decimal("30.00"), 2, id="c", product="sku-42"),
]


async def test_the_cart_and_a_webhook_through_the_async_client(live: Live) -> None:
    receiver = Receiver().start()
    service = AsyncDiscounts(live.url, token=live.token("service", "marketplace"))
    acme = AsyncDiscounts(live.url, token=live.token("brand", "cart-acme"))
    bolt = AsyncDiscounts(live.url, token=live.token("brand", "cart-bolt"))
    cara = AsyncDiscounts(live.url, token=live.token("user", "u-cara"))
    try:
        async with service, acme, bolt, cara:
            for brand in ("cart-acme", "cart-bolt"):
                await service.send(ops.put_brand(brand, name=brand, email=f"promo@{brand}.example"))

            # A webhook endpoint of the brand, its secret shown once; a ping verified as a receiver would.
            endpoint = await acme.send(ops.create_webhook(receiver.url, events=["usage.used"], description="tour"))
            assert (endpoint.url, endpoint.events, endpoint.enabled) == (receiver.url, ["usage.used"], True)
            verifier = WebhookVerifier(endpoint.secret)
            ping = await acme.send(ops.ping_webhook(endpoint.id))
            assert (ping.type_, ping.status, ping.error) == ("ping", 204, None)
            (pinged,) = await receiver.arrived(1, "ping")
            assert verifier.verify(pinged.body, pinged.headers).id == ping.event
            assert [e.id for e in await acme.send(ops.list_webhooks())] == [endpoint.id]
            with pytest.raises(WebhookNotFound):
                await bolt.send(ops.get_webhook(endpoint.id))  # each principal sees only its own

            await acme.send(ops.create_code("ACME10", rule=ops.percent_off("cart-acme", 10), validity=VALIDITY))
            bolt5 = ops.amount_off("cart-bolt", Decimal("5.00"), "EUR")
            await bolt.send(ops.create_code("BOLT5", rule=bolt5, validity=VALIDITY))
            shoes = ops.percent_off("cart-acme", 15, categories=["shoes"])
            await acme.send(ops.create_code("SHOES15", rule=shoes, validity=VALIDITY))
            with pytest.raises(LinesRequired):  # a rule that targets categories prices lines, not an amount
                await cara.send(ops.quote("SHOES15", user="u-cara", amount=Decimal("100.00"), currency="EUR"))

            # The cart quoted: each code's discount allocated line by line, a refused code listed.
            codes = ["acme10", "bolt5"]
            quoted = await cara.send(ops.cart_quote([*codes, "NOPE"], user="u-cara", lines=CART, currency="EUR"))
            assert [(a.code, a.discount, a.amount_off, a.discount_amount, a.allocations) for a in quoted.applied] == [
                (
                    "ACME10",
                    10,
                    None,
                    Decimal("10.00"),
                    (Allocation("a", Decimal("6.00")), Allocation("b", Decimal("4.00"))),
                ),
                ("BOLT5", None, Decimal("5.00"), Decimal("5.00"), (Allocation("c", Decimal("5.00")),)),
            ]
            assert [(r.code, r.reason) for r in quoted.rejected] == [("NOPE", "code_not_found")]
            assert [(t.id, t.subtotal, t.discount, t.total) for t in quoted.lines] == [
                ("a", Decimal("60.00"), Decimal("6.00"), Decimal("54.00")),
                ("b", Decimal("40.00"), Decimal("4.00"), Decimal("36.00")),
                ("c", Decimal("60.00"), Decimal("5.00"), Decimal("55.00")),
            ]
            assert (quoted.amount, quoted.discount_amount, quoted.amount_to_pay) == (
                Decimal("160.00"),
                Decimal("15.00"),
                Decimal("145.00"),
            )

            # Held at checkout, then confirmed together (again: the same answer).
            held = await cara.send(ops.cart_redeem(codes, user="u-cara", lines=CART, currency="EUR", hold=True))
            assert (held.status, held.held, held.amount_to_pay) == ("held", True, Decimal("145.00"))
            assert held.hold_expires_at is not None
            assert held.hold_expires_at > datetime.now(UTC)
            assert [a.allocations for a in held.applied] == [a.allocations for a in quoted.applied]
            usages = {a.code: a.usage for a in held.applied}
            assert all(usages.values()), usages
            confirmed = await cara.send(ops.cart_confirm(held.id))
            assert (confirmed.id, confirmed.status, confirmed.held) == (held.id, "used", False)
            assert await service.send(ops.cart_confirm(held.id)) == confirmed

            # The brand hears of its use, signed: the deliverer of serve's background worker sends it.
            (delivered, *_) = await receiver.arrived(1, "usage.used", seconds=60)
            event = verifier.verify(delivered.body, delivered.headers)
            assert (event.type, event.data["code"], event.data["cart"]) == ("usage.used", "ACME10", held.id)
            assert (event.data["id"], event.data["discount_amount"]) == (usages["ACME10"], "10.00")
            logged = {(event.id, "usage.used", 204)}
            deadline = time.monotonic() + 30  # the deliverer logs the attempt once the receiver has answered
            attempts = await delivery_log(acme, endpoint.id)
            while not logged <= attempts and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                attempts = await delivery_log(acme, endpoint.id)
            assert logged <= attempts

            # All or nothing: a code already used refuses the whole cart, each reason typed.
            with pytest.raises(CartRejected) as rejected:
                await cara.send(ops.cart_redeem([*codes, "NOPE"], user="u-cara", lines=CART, currency="EUR"))
            assert isinstance(rejected.value, Conflict)
            assert [(r.code, r.reason) for r in rejected.value.rejected] == [
                ("ACME10", "code_already_used"),
                ("BOLT5", "code_already_used"),
                ("NOPE", "code_not_found"),
            ]
            assert all(r.detail for r in rejected.value.rejected)

            # A rollback: the cart given back, its codes free again; a second time there is no cart.
            assert await cara.send(ops.cart_give_back(held.id)) is None
            again = await cara.send(ops.cart_quote(codes, user="u-cara", lines=CART, currency="EUR"))
            assert (again.rejected, again.amount_to_pay) == ((), Decimal("145.00"))
            with pytest.raises(CartNotFound):
                await cara.send(ops.cart_give_back(held.id))

            # The endpoint changed, then deleted.
            changed = await acme.send(ops.update_webhook(endpoint.id, enabled=False, description=None))
            assert (changed.enabled, changed.description, changed.events) == (False, None, ["usage.used"])
            rotated = await acme.send(ops.rotate_webhook_secret(endpoint.id))
            assert rotated.secret.startswith("whsec_")
            assert rotated.secret != endpoint.secret
            assert await acme.send(ops.delete_webhook(endpoint.id)) is None
            with pytest.raises(WebhookNotFound):
                await acme.send(ops.get_webhook(endpoint.id))
    finally:
        receiver.stop()
    assert {verifier.verify(r.body, r.headers).data.get("cart") for r in receiver.events("usage.used")} == {held.id}


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


async def delivery_log(api: AsyncDiscounts, endpoint_id: str) -> set[tuple[str, str, int | None]]:
    return {(a.event, a.type_, a.status) for a in await api.send(ops.webhook_deliveries(endpoint_id))}


def test_a_retry_after_a_dropped_reply_returns_the_original_answer(live: Live) -> None:
    """A redemption, a cart's hold and its confirm each lose their answer once; the retry, same key, gets it."""
    with (
        Discounts(live.url, token=live.token("service", "marketplace")) as service,
        Discounts(live.url, token=live.token("brand", "proxy-brand")) as brand,
    ):
        service.send(ops.put_brand("proxy-brand", name="Proxy", email="promo@proxy.example"))
        brand.send(ops.create_code("DROPPED", rule=ops.percent_off("proxy-brand", 25), validity=VALIDITY))
        brand.send(ops.create_code("DROPCART", rule=ops.percent_off("proxy-brand", 10), validity=VALIDITY))
    proxy = DropOneReply(live.port, REDEEM, REDEEM_CART, CONFIRM_CART)
    lines = [Line("proxy-brand", Decimal("30.00"), 2, id="x")]
    try:
        with Discounts(proxy.url, token=live.token("user", "u-proxy")) as user:
            used = user.send(ops.redeem("DROPPED", user="u-proxy", amount=Decimal("80.00")))
            assert user.send(ops.get_code("DROPPED")).used is True
            held = user.send(ops.cart_redeem(["dropcart"], user="u-proxy", lines=lines, hold=True))
            confirmed = user.send(ops.cart_confirm(held.id))
    finally:
        proxy.close()
    assert proxy.dropped.keys() == {REDEEM, REDEEM_CART, CONFIRM_CART}
    for line, status in [(REDEEM, b"201"), (REDEEM_CART, b"201"), (CONFIRM_CART, b"200")]:
        assert proxy.dropped[line].startswith(b"HTTP/1.1 " + status + b" "), proxy.dropped[line]
        keys = proxy.idempotency_keys(line)
        assert len(keys) == 2, keys
        assert keys[0] == keys[1] != "", keys
    original = proxy.lost_body(REDEEM)
    assert used.raw == RedemptionOut.from_dict(original)  # the very answer that was lost
    assert (used.id, used.amount_to_pay) == (original["id"], Decimal("60.00"))
    assert held.raw == CartRedemptionOut.from_dict(proxy.lost_body(REDEEM_CART))
    assert (held.status, held.amount_to_pay) == ("held", Decimal("54.00"))
    assert confirmed.raw == CartRedemptionOut.from_dict(proxy.lost_body(CONFIRM_CART))
    assert (confirmed.id, confirmed.status) == (held.id, "used")


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
